// A memory's fields: scope, state, categories, metadata and times; a superseded memory
// links to the memory that replaced it.
import { Memory_State, Memory_Type, type Memory } from "@client/gen/mem0stack/v1/memory_pb.js";
import { formatTime } from "../format";
import { hrefOf, memoryRoute } from "../router";

export function MemoryFacts({ memory }: { memory: Memory }) {
  const rows: [string, React.ReactNode][] = [
    ["Name", <code key="n">{memory.name}</code>],
    ["State", Memory_State[memory.state]],
    ["Type", memory.memoryType ? Memory_Type[memory.memoryType] : ""],
    ["Agent", memory.agentId],
    ["Run", memory.runId],
    ["Actor", memory.actorId],
    ["Role", memory.role],
    ["Categories", memory.categories.join(", ")],
    ["Created", formatTime(memory.createTime)],
    ["Updated", formatTime(memory.updateTime)],
    ["Event time", formatTime(memory.eventTime)],
    ["Valid from", formatTime(memory.validTime)],
    ["Invalid from", formatTime(memory.invalidTime)],
    ["Expires", formatTime(memory.expireTime)],
    ["Etag", <code key="e">{memory.etag}</code>],
  ];
  return (
    <>
      {memory.supersededBy ? (
        <p className="notice" role="note">
          Superseded by{" "}
          <a className="superseded-by" href={hrefOf(memoryRoute(memory.supersededBy))}>
            {memory.supersededBy}
          </a>
        </p>
      ) : null}
      <dl className="facts">
        {rows
          .filter(([, value]) => value !== "" && value !== undefined)
          .map(([label, value]) => (
            <div key={label}>
              <dt>{label}</dt>
              <dd>{value}</dd>
            </div>
          ))}
        <div>
          <dt>Metadata</dt>
          <dd>
            <pre className="metadata">{JSON.stringify(memory.metadata ?? {}, null, 2)}</pre>
          </dd>
        </div>
      </dl>
    </>
  );
}
