// The relations of the graph as a table, each with a button that shows its memories.
import { Relation_State, type Relation } from "@client/gen/mem0stack/v1/graph_pb.js";

interface Props {
  relations: Relation[];
  selected: string | undefined;
  onSelect: (name: string) => void;
}

export function RelationTable({ relations, selected, onSelect }: Props) {
  if (relations.length === 0) return <p className="hint">No relations yet.</p>;
  return (
    <div className="table-scroll">
      <table className="relations-table">
        <caption className="visually-hidden">Relations</caption>
        <thead>
          <tr>
            <th scope="col">Source</th>
            <th scope="col">Relation</th>
            <th scope="col">Target</th>
            <th scope="col">Memories</th>
          </tr>
        </thead>
        <tbody>
          {relations.map((r) => (
            <tr key={r.name} aria-selected={selected === r.name}>
              <td>{r.sourceDisplayName}</td>
              <td>
                {r.relation}
                {r.state === Relation_State.INVALID ? " (invalid)" : ""}
              </td>
              <td>{r.targetDisplayName}</td>
              <td>
                <button
                  type="button"
                  onClick={() => onSelect(r.name)}
                  aria-label={`Memories behind ${r.sourceDisplayName} ${r.relation} ${r.targetDisplayName}`}
                >
                  {r.memories.length}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
