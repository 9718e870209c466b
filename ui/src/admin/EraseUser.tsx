// Erases a user for good (EraseUser): memories, history, feed and graph. The user id must be
// typed to confirm, since nothing brings them back.
import { useState } from "react";
import { useClients } from "../api/context";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { ErrorMessage } from "../components/ErrorMessage";

export function EraseUser({ user, onErased }: { user: string; onErased: (memories: number) => void }) {
  const clients = useClients();
  const [asking, setAsking] = useState(false);
  const [typed, setTyped] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  return (
    <>
      <button type="button" className="danger" onClick={() => setAsking(true)} aria-label={`Erase ${user}`}>
        Erase
      </button>
      {asking ? (
        <ConfirmDialog
          title={`Erase ${user}?`}
          confirmLabel="Erase for good"
          busy={busy}
          confirmDisabled={typed !== user}
          onCancel={() => {
            setAsking(false);
            setTyped("");
          }}
          onConfirm={async () => {
            setBusy(true);
            try {
              const reply = await clients.admin.eraseUser({ name: `users/${user}` });
              setAsking(false);
              onErased(Number(reply.memories));
            } catch (err) {
              setError(err);
              setAsking(false);
            } finally {
              setBusy(false);
              setTyped("");
            }
          }}
        >
          <p>Every memory, revision, change and graph entry of {user} is deleted; nothing can restore them.</p>
          <label htmlFor="erase-confirm">Type {user} to confirm</label>
          <input id="erase-confirm" value={typed} onChange={(e) => setTyped(e.target.value)} autoComplete="off" />
        </ConfirmDialog>
      ) : null}
      {error !== undefined ? <ErrorMessage error={error} title={`Could not erase ${user}`} /> : null}
    </>
  );
}
