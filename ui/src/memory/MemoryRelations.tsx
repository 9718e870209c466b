// The graph relations a memory gave rise to (GraphService.ListRelations by memory).
import { Code, ConnectError } from "@connectrpc/connect";
import { Relation_State } from "@client/gen/mem0stack/v1/graph_pb.js";
import { useClients } from "../api/context";
import { describeError } from "../api/errors";
import { ErrorMessage } from "../components/ErrorMessage";
import { useCall } from "../hooks/useCall";

export function MemoryRelations({ name, version }: { name: string; version: string }) {
  const clients = useClients();
  const user = name.split("/")[1] ?? "";
  const result = useCall(
    (signal) =>
      clients.graph.listRelations(
        { parent: `users/${user}`, filter: `memory = ${JSON.stringify(name)}`, showInvalid: true, pageSize: 100 },
        { signal },
      ),
    [clients, name, version],
  );
  if (result.error !== undefined) {
    const e = describeError(result.error);
    if (e.reason === "GRAPH_DISABLED" || ConnectError.from(result.error).code === Code.Unimplemented) {
      return <p className="hint">Graph memory is off on this server.</p>;
    }
    return <ErrorMessage error={result.error} title="Could not load the relations" />;
  }
  if (!result.data) return <p aria-busy="true">Loading the relations…</p>;
  if (result.data.relations.length === 0) return <p className="hint">No relations.</p>;
  return (
    <ul className="relations">
      {result.data.relations.map((r) => (
        <li key={r.name} className={r.state === Relation_State.INVALID ? "invalid" : undefined}>
          {r.sourceDisplayName} <strong>{r.relation}</strong> {r.targetDisplayName}
          {r.state === Relation_State.INVALID ? " (no longer valid)" : ""}
        </li>
      ))}
    </ul>
  );
}
