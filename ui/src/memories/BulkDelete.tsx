// Deletes the selected memories in one BatchDeleteMemories call, after asking.
import { useState } from "react";
import { useClients } from "../api/context";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { ErrorMessage } from "../components/ErrorMessage";

interface Props {
  user: string;
  names: string[];
  onDeleted: (count: number) => void;
}

export function BulkDelete({ user, names, onDeleted }: Props) {
  const clients = useClients();
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();

  async function remove() {
    setBusy(true);
    setError(undefined);
    try {
      const reply = await clients.memories.batchDeleteMemories({ parent: `users/${user}`, names });
      setAsking(false);
      onDeleted(Number(reply.deletedCount));
    } catch (err) {
      setError(err);
      setAsking(false);
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <button
        type="button"
        className="danger"
        disabled={names.length === 0}
        onClick={() => setAsking(true)}
      >
        Delete selected ({names.length})
      </button>
      {asking ? (
        <ConfirmDialog
          title={`Delete ${names.length} memories?`}
          confirmLabel="Delete"
          busy={busy}
          onConfirm={remove}
          onCancel={() => setAsking(false)}
        >
          <p>Their history is kept, but they are no longer listed or found.</p>
        </ConfirmDialog>
      ) : null}
      {error !== undefined ? <ErrorMessage error={error} title="Could not delete" /> : null}
    </>
  );
}
