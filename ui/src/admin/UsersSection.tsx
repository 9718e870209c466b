// The users the server holds memories of, with their counts and last activity; erasing one
// (GDPR) asks for the user id to be typed first.
import { useState } from "react";
import { useClients } from "../api/context";
import { ErrorMessage } from "../components/ErrorMessage";
import { formatTime } from "../format";
import { useCall } from "../hooks/useCall";
import { Pager } from "../memories/Pager";
import { hrefOf } from "../router";
import { EraseUser } from "./EraseUser";

const PAGE_SIZE = 50;

export function UsersSection() {
  const clients = useClients();
  const [prefix, setPrefix] = useState("");
  const [applied, setApplied] = useState("");
  const [tokens, setTokens] = useState<string[]>([""]);
  const [page, setPage] = useState(0);
  const [notice, setNotice] = useState("");
  const users = useCall(
    (signal) =>
      clients.admin.listUsers({ prefix: applied, pageSize: PAGE_SIZE, pageToken: tokens[page] ?? "" }, { signal }),
    [clients, applied, page],
  );
  return (
    <>
      <form
        className="query-form"
        role="search"
        aria-label="Find users"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied(prefix.trim());
          setTokens([""]);
          setPage(0);
        }}
      >
        <div className="field wide">
          <label htmlFor="user-prefix">User id starts with</label>
          <input id="user-prefix" value={prefix} onChange={(e) => setPrefix(e.target.value)} />
        </div>
        <div className="field buttons">
          <button type="submit">Find</button>
        </div>
      </form>
      {notice ? (
        <p role="status" className="notice">
          {notice}
        </p>
      ) : null}
      {users.error !== undefined ? (
        <ErrorMessage error={users.error} title="Could not list the users" />
      ) : !users.data ? (
        <p aria-busy="true">Loading…</p>
      ) : users.data.users.length === 0 ? (
        <p className="hint">No users.</p>
      ) : (
        <div className="table-scroll">
          <table className="users">
            <caption className="visually-hidden">Users</caption>
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Active memories</th>
                <th scope="col">All memories</th>
                <th scope="col">Last change</th>
                <th scope="col">Last access</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {users.data.users.map((u) => {
                const id = u.name.replace(/^users\//, "");
                return (
                  <tr key={u.name}>
                    <td>
                      <a href={hrefOf({ page: "memories", user: id })}>{id}</a>
                    </td>
                    <td className="number">{String(u.activeMemories)}</td>
                    <td className="number">{String(u.memories)}</td>
                    <td>{formatTime(u.lastChangeTime)}</td>
                    <td>{formatTime(u.lastAccessTime)}</td>
                    <td>
                      <EraseUser
                        user={id}
                        onErased={(count) => {
                          setNotice(`Erased ${id}: ${count} memories and everything else of theirs.`);
                          users.reload();
                        }}
                      />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <Pager
        page={page}
        hasNext={Boolean(users.data?.nextPageToken)}
        onPrevious={() => setPage((p) => Math.max(0, p - 1))}
        onNext={() => {
          const next = users.data?.nextPageToken;
          if (!next) return;
          setTokens((t) => [...t.slice(0, page + 1), next]);
          setPage((p) => p + 1);
        }}
      />
    </>
  );
}
