// One user's memories: filter, search, pages, live changes and bulk deletion.
import { useCallback, useEffect, useState } from "react";
import type { MemoryChange } from "@client/gen/mem0stack/v1/streams_pb.js";
import { useClients } from "../api/context";
import { ErrorMessage } from "../components/ErrorMessage";
import { LiveStatus } from "../components/LiveStatus";
import { useCall } from "../hooks/useCall";
import { useWatch } from "../hooks/useWatch";
import { BulkDelete } from "../memories/BulkDelete";
import { MemoryTable } from "../memories/MemoryTable";
import { Pager } from "../memories/Pager";
import { QueryForm } from "../memories/QueryForm";
import { EMPTY_QUERY, type MemoryQuery } from "../memories/query";
import { applyChange, type Row } from "../memories/rows";

const PAGE_SIZE = 25;
const TOP_K = 25;

export function MemoriesPage({ user }: { user: string }) {
  const clients = useClients();
  const [query, setQuery] = useState<MemoryQuery>(EMPTY_QUERY);
  // tokens[i] fetches page i; the first page needs none.
  const [tokens, setTokens] = useState<string[]>([""]);
  const [page, setPage] = useState(0);
  const [rows, setRows] = useState<Row[]>([]);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [live, setLive] = useState(true);
  const [notice, setNotice] = useState("");

  useEffect(() => {
    setQuery(EMPTY_QUERY);
    setTokens([""]);
    setPage(0);
    setSelected(new Set());
    setRows([]);
  }, [user]);

  const searching = query.search !== "";
  const result = useCall(
    async (signal) => {
      const parent = `users/${user}`;
      if (searching) {
        const reply = await clients.memories.searchMemories(
          { parent, query: query.search, filter: query.filter, mode: query.mode, topK: TOP_K },
          { signal },
        );
        return {
          rows: reply.results.flatMap((r) => (r.memory ? [{ memory: r.memory, score: r.score }] : [])),
          next: "",
        };
      }
      const reply = await clients.memories.listMemories(
        { parent, filter: query.filter, pageSize: PAGE_SIZE, pageToken: tokens[page] ?? "" },
        { signal },
      );
      return { rows: reply.memories.map((memory) => ({ memory })), next: reply.nextPageToken };
    },
    [clients, user, query, page],
  );

  useEffect(() => {
    if (result.data) setRows(result.data.rows);
  }, [result.data]);

  // Live changes apply to the newest-first listing, where they belong on the first page.
  const following = live && !searching && page === 0;
  const onChange = useCallback((change: MemoryChange) => setRows((r) => applyChange(r, change)), []);
  const watch = useWatch(user, query.filter, following, onChange);

  function toggle(name: string) {
    setSelected((s) => {
      const next = new Set(s);
      if (next.has(name)) next.delete(name);
      else next.add(name);
      return next;
    });
  }

  return (
    <section aria-labelledby="memories-title">
      <h1 id="memories-title">
        Memories of <span className="user-name">{user}</span>
      </h1>
      <QueryForm
        key={user}
        query={query}
        onSubmit={(q) => {
          setQuery(q);
          setTokens([""]);
          setPage(0);
          setSelected(new Set());
        }}
      />
      <div className="toolbar">
        <label className="inline">
          <input type="checkbox" checked={live} onChange={(e) => setLive(e.target.checked)} /> Follow
          changes live
        </label>
        <LiveStatus status={following ? watch : { state: "off" }} />
        <BulkDelete
          user={user}
          names={[...selected]}
          onDeleted={(count) => {
            setNotice(`Deleted ${count} memories.`);
            setSelected(new Set());
            result.reload();
          }}
        />
        <button type="button" onClick={result.reload}>
          Refresh
        </button>
      </div>
      {notice ? (
        <p role="status" className="notice">
          {notice}
        </p>
      ) : null}
      {result.error !== undefined ? (
        <ErrorMessage error={result.error} title="Could not load the memories" />
      ) : result.loading ? (
        <p aria-busy="true">Loading…</p>
      ) : (
        <MemoryTable
          rows={rows}
          selected={selected}
          onToggle={toggle}
          onToggleAll={(all) => setSelected(all ? new Set(rows.map((r) => r.memory.name)) : new Set())}
          showScore={searching}
        />
      )}
      {searching ? (
        <p className="hint">The best {TOP_K} results, best first; the score is the cosine similarity.</p>
      ) : (
        <Pager
          page={page}
          hasNext={Boolean(result.data?.next)}
          onPrevious={() => setPage((p) => Math.max(0, p - 1))}
          onNext={() => {
            const next = result.data?.next;
            if (!next) return;
            setTokens((t) => [...t.slice(0, page + 1), next]);
            setPage((p) => p + 1);
          }}
        />
      )}
    </section>
  );
}
