// The history of one memory: each change with its diff, who made it and its request id.
import { MemoryRevision_Event } from "@client/gen/mem0stack/v1/memory_pb.js";
import { useClients } from "../api/context";
import { ErrorMessage } from "../components/ErrorMessage";
import { formatTime, shortId } from "../format";
import { useCall } from "../hooks/useCall";
import { Diff } from "./Diff";
import { diffObjects } from "./diff";

export function Revisions({ name, version }: { name: string; version: string }) {
  const clients = useClients();
  const result = useCall(
    (signal) => clients.memories.listMemoryRevisions({ name, pageSize: 200 }, { signal }),
    [clients, name, version],
  );
  if (result.error !== undefined) {
    return <ErrorMessage error={result.error} title="Could not load the history" />;
  }
  if (!result.data) return <p aria-busy="true">Loading the history…</p>;
  return (
    <ol className="revisions">
      {result.data.revisions.map((revision) => {
        const metadata = diffObjects(
          revision.metadataBefore as Record<string, unknown> | undefined,
          revision.metadataAfter as Record<string, unknown> | undefined,
        );
        return (
          <li key={revision.name} className="revision">
            <h3>
              {MemoryRevision_Event[revision.event]}{" "}
              <small>
                revision {shortId(revision.name)} · {formatTime(revision.createTime)}
              </small>
            </h3>
            <dl className="inline-dl">
              <dt>Actor</dt>
              <dd className="actor">{revision.actor || "—"}</dd>
              <dt>Request id</dt>
              <dd className="request-id">{revision.requestId || "—"}</dd>
            </dl>
            {revision.contentBefore !== revision.contentAfter ? (
              <Diff before={revision.contentBefore} after={revision.contentAfter} />
            ) : null}
            {metadata.length > 0 ? (
              <table className="metadata-diff">
                <caption>Metadata changes</caption>
                <thead>
                  <tr>
                    <th scope="col">Key</th>
                    <th scope="col">Before</th>
                    <th scope="col">After</th>
                  </tr>
                </thead>
                <tbody>
                  {metadata.map((m) => (
                    <tr key={m.key}>
                      <th scope="row">{m.key}</th>
                      <td>{m.before === undefined ? "—" : <del>{m.before}</del>}</td>
                      <td>{m.after === undefined ? "—" : <ins>{m.after}</ins>}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : null}
          </li>
        );
      })}
    </ol>
  );
}
