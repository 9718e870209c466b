// Creates an API key; its secret is shown once, here, and never again.
import { useState } from "react";
import { ApiKey_Role } from "@client/gen/mem0stack/v1/admin_pb.js";
import { useClients } from "../api/context";
import { ErrorMessage } from "../components/ErrorMessage";
import { parseList } from "../text";

export function CreateKeyForm({ onCreated }: { onCreated: () => void }) {
  const clients = useClients();
  const [role, setRole] = useState(ApiKey_Role.USER);
  const [users, setUsers] = useState("");
  const [label, setLabel] = useState("");
  const [secret, setSecret] = useState<{ key: string; name: string }>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [copied, setCopied] = useState(false);

  async function create(event: React.FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    setCopied(false);
    try {
      const reply = await clients.admin.createApiKey({
        apiKey: { role, users: role === ApiKey_Role.USER ? parseList(users) : [], label: label.trim() },
      });
      setSecret({ key: reply.key, name: reply.apiKey?.name ?? "" });
      setUsers("");
      setLabel("");
      onCreated();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="panel" aria-labelledby="create-key-title">
      <h2 id="create-key-title">Create a key</h2>
      <form className="stack" onSubmit={create} aria-label="Create a key">
        <label htmlFor="key-role">Role</label>
        <select id="key-role" value={role} onChange={(e) => setRole(Number(e.target.value))}>
          <option value={ApiKey_Role.USER}>User: only the users named below</option>
          <option value={ApiKey_Role.ADMIN}>Admin: every user and these admin pages</option>
        </select>
        {role === ApiKey_Role.USER ? (
          <>
            <label htmlFor="key-users">Users (comma-separated)</label>
            <input id="key-users" value={users} required onChange={(e) => setUsers(e.target.value)} />
          </>
        ) : null}
        <label htmlFor="key-label">Label</label>
        <input id="key-label" value={label} maxLength={200} onChange={(e) => setLabel(e.target.value)} />
        <div className="actions">
          <button type="submit" disabled={busy}>
            Create key
          </button>
        </div>
      </form>
      {error !== undefined ? <ErrorMessage error={error} title="Could not create the key" /> : null}
      {secret ? (
        <div className="notice" role="status" aria-live="polite">
          <p>
            <strong>Key {secret.name} created.</strong> Copy it now: it is shown only this once.
          </p>
          <p className="secret" data-testid="new-key-secret">
            {secret.key}
          </p>
          <div className="actions">
            <button
              type="button"
              onClick={() => {
                void navigator.clipboard?.writeText(secret.key).then(() => setCopied(true));
              }}
            >
              {copied ? "Copied" : "Copy"}
            </button>
            <button type="button" onClick={() => setSecret(undefined)}>
              I have copied it
            </button>
          </div>
        </div>
      ) : null}
    </section>
  );
}
