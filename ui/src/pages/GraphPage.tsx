// A user's graph memory: entities and relations, and the memories behind each.
import { useState } from "react";
import { useClients } from "../api/context";
import { describeError } from "../api/errors";
import { ErrorMessage } from "../components/ErrorMessage";
import { GraphCanvas } from "../graph/GraphCanvas";
import { RelationTable } from "../graph/RelationTable";
import { SelectionPanel } from "../graph/SelectionPanel";
import { useCall } from "../hooks/useCall";

const LIMIT = 1000;

export function GraphPage({ user }: { user: string }) {
  const clients = useClients();
  const [showInvalid, setShowInvalid] = useState(false);
  const [selected, setSelected] = useState<string>();
  const result = useCall(
    async (signal) => {
      const parent = `users/${user}`;
      const [entities, relations, status] = await Promise.all([
        clients.graph.listEntities({ parent, pageSize: LIMIT }, { signal }),
        clients.graph.listRelations({ parent, pageSize: LIMIT, showInvalid }, { signal }),
        clients.graph.getGraphStatus({ name: `${parent}/graphStatus` }, { signal }),
      ]);
      return { entities: entities.entities, relations: relations.relations, status };
    },
    [clients, user, showInvalid],
  );

  let body: React.ReactNode;
  if (result.error !== undefined) {
    body =
      describeError(result.error).reason === "GRAPH_DISABLED" ? (
        <p className="notice">Graph memory is off on this server (docs/graph.md turns it on).</p>
      ) : (
        <ErrorMessage error={result.error} title="Could not load the graph" />
      );
  } else if (!result.data) {
    body = <p aria-busy="true">Loading…</p>;
  } else {
    const { entities, relations, status } = result.data;
    const relation = relations.find((r) => r.name === selected);
    const entity = relation ? undefined : entities.find((e) => e.name === selected);
    body = (
      <>
        <p className="hint" role="status">
          {entities.length} entities, {relations.length} relations
          {status.pendingJobs > 0n ? `; ${status.pendingJobs} updates still being applied` : ""}.
        </p>
        <div className="graph-layout">
          <GraphCanvas entities={entities} relations={relations} selected={selected} onSelect={setSelected} />
          <SelectionPanel relation={relation} entity={entity} />
        </div>
        <h2>Relations</h2>
        <RelationTable relations={relations} selected={selected} onSelect={setSelected} />
      </>
    );
  }

  return (
    <section aria-labelledby="graph-title">
      <h1 id="graph-title">
        Graph of <span className="user-name">{user}</span>
      </h1>
      <div className="toolbar">
        <label className="inline">
          <input type="checkbox" checked={showInvalid} onChange={(e) => setShowInvalid(e.target.checked)} />
          Show relations no longer valid
        </label>
        <button type="button" onClick={result.reload}>
          Refresh
        </button>
      </div>
      {body}
    </section>
  );
}
