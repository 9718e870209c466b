// Memories as a table: content (linking to the detail), scope, categories, state, times, and
// the score of a search; a checkbox per row for bulk deletion.
import { Memory_State, Memory_Type } from "@client/gen/mem0stack/v1/memory_pb.js";
import { formatScore, formatTime } from "../format";
import { hrefOf, memoryRoute } from "../router";
import type { Row } from "./rows";

interface Props {
  rows: Row[];
  selected: ReadonlySet<string>;
  onToggle: (name: string) => void;
  onToggleAll: (select: boolean) => void;
  showScore: boolean;
}

export function MemoryTable({ rows, selected, onToggle, onToggleAll, showScore }: Props) {
  if (rows.length === 0) {
    return <p className="empty">No memories.</p>;
  }
  const allSelected = rows.every((row) => selected.has(row.memory.name));
  return (
    <div className="table-scroll">
      <table className="memories">
        <caption className="visually-hidden">Memories</caption>
        <thead>
          <tr>
            <th scope="col">
              <input
                type="checkbox"
                aria-label="Select all memories on this page"
                checked={allSelected}
                onChange={(e) => onToggleAll(e.target.checked)}
              />
            </th>
            <th scope="col">Content</th>
            {showScore ? <th scope="col">Score</th> : null}
            <th scope="col">Categories</th>
            <th scope="col">Agent</th>
            <th scope="col">Run</th>
            <th scope="col">Actor</th>
            <th scope="col">Type</th>
            <th scope="col">State</th>
            <th scope="col">Updated</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(({ memory, score, live }) => (
            <tr key={memory.name} className={live ? `live-${live}` : undefined}>
              <td>
                <input
                  type="checkbox"
                  aria-label={`Select "${memory.content}"`}
                  checked={selected.has(memory.name)}
                  onChange={() => onToggle(memory.name)}
                />
              </td>
              <td className="content" data-label="Content">
                <a href={hrefOf(memoryRoute(memory.name))}>{memory.content}</a>
              </td>
              {showScore ? (
                <td data-label="Score" className="score">
                  {score === undefined ? "" : formatScore(score)}
                </td>
              ) : null}
              <td data-label="Categories">
                {memory.categories.map((c) => (
                  <span key={c} className="tag">
                    {c}
                  </span>
                ))}
              </td>
              <td data-label="Agent">{memory.agentId}</td>
              <td data-label="Run">{memory.runId}</td>
              <td data-label="Actor">{memory.actorId}</td>
              <td data-label="Type">{typeName(memory.memoryType)}</td>
              <td data-label="State">{Memory_State[memory.state]}</td>
              <td data-label="Updated">{formatTime(memory.updateTime ?? memory.createTime)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function typeName(type: Memory_Type): string {
  return type === Memory_Type.TYPE_UNSPECIFIED ? "" : Memory_Type[type];
}
