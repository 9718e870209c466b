// The API keys, with a revoke button (asking first) on each active one.
import { useState } from "react";
import { ApiKey_Role, type ApiKey } from "@client/gen/mem0stack/v1/admin_pb.js";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { formatTime, shortId } from "../format";

interface Props {
  keys: ApiKey[];
  onRevoke: (name: string) => Promise<void>;
}

export function KeyTable({ keys, onRevoke }: Props) {
  const [asking, setAsking] = useState<ApiKey>();
  const [busy, setBusy] = useState(false);
  if (keys.length === 0) return <p className="hint">No keys.</p>;
  return (
    <>
      <div className="table-scroll">
        <table className="keys">
          <caption className="visually-hidden">API keys</caption>
          <thead>
            <tr>
              <th scope="col">Key id</th>
              <th scope="col">Role</th>
              <th scope="col">Users</th>
              <th scope="col">Label</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">Revoked</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {keys.map((key) => (
              <tr key={key.name} className={key.revokeTime ? "revoked" : undefined}>
                <td>
                  <code>{shortId(key.name)}</code>
                </td>
                <td>{ApiKey_Role[key.role]}</td>
                <td>{key.users.join(", ")}</td>
                <td>{key.label}</td>
                <td>{formatTime(key.createTime)}</td>
                <td>{formatTime(key.lastUseTime) || "never"}</td>
                <td>{formatTime(key.revokeTime)}</td>
                <td>
                  {key.revokeTime ? null : (
                    <button
                      type="button"
                      className="danger"
                      onClick={() => setAsking(key)}
                      aria-label={`Revoke ${shortId(key.name)}${key.label ? ` (${key.label})` : ""}`}
                    >
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {asking ? (
        <ConfirmDialog
          title={`Revoke key ${shortId(asking.name)}?`}
          confirmLabel="Revoke key"
          busy={busy}
          onCancel={() => setAsking(undefined)}
          onConfirm={async () => {
            setBusy(true);
            try {
              await onRevoke(asking.name);
            } finally {
              setBusy(false);
              setAsking(undefined);
            }
          }}
        >
          <p>Calls with it fail from now on (each server notices within its key cache time).</p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}
