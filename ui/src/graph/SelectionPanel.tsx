// The memories behind the selected relation or entity, each linking to its page.
import type { Entity, Relation } from "@client/gen/mem0stack/v1/graph_pb.js";
import { useClients } from "../api/context";
import { ErrorMessage } from "../components/ErrorMessage";
import { useCall } from "../hooks/useCall";
import { hrefOf, memoryRoute } from "../router";

interface Props {
  relation?: Relation;
  entity?: Entity;
}

export function SelectionPanel({ relation, entity }: Props) {
  const clients = useClients();
  const names = relation?.memories ?? entity?.memories ?? [];
  const result = useCall(
    (signal) =>
      Promise.all(
        names.map((name) =>
          clients.memories.getMemory({ name }, { signal }).then(
            (memory) => ({ name, content: memory.content }),
            // A memory deleted since the graph was written: say so instead of failing all.
            () => ({ name, content: "" }),
          ),
        ),
      ),
    [clients, names.join("\n")],
  );
  if (!relation && !entity) {
    return <p className="hint">Select a relation or an entity to see the memories behind it.</p>;
  }
  const title = relation
    ? `${relation.sourceDisplayName} ${relation.relation} ${relation.targetDisplayName}`
    : `${entity?.displayName} (${entity?.entityType})`;
  return (
    <section className="panel" aria-labelledby="selection-title" aria-live="polite">
      <h2 id="selection-title">{title}</h2>
      {result.error !== undefined ? <ErrorMessage error={result.error} /> : null}
      {!result.data ? (
        <p aria-busy="true">Loading…</p>
      ) : (
        <ul className="selection-memories">
          {result.data.map((m) => (
            <li key={m.name}>
              <a href={hrefOf(memoryRoute(m.name))}>{m.content || `${m.name} (deleted)`}</a>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
