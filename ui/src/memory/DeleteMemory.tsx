// Deletes one memory after asking (with its etag: a memory changed meanwhile is not deleted).
import { useState } from "react";
import type { Memory } from "@client/gen/mem0stack/v1/memory_pb.js";
import { useClients } from "../api/context";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { ErrorMessage } from "../components/ErrorMessage";

export function DeleteMemory({ memory, onDeleted }: { memory: Memory; onDeleted: () => void }) {
  const clients = useClients();
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  return (
    <>
      <button type="button" className="danger" onClick={() => setAsking(true)}>
        Delete
      </button>
      {asking ? (
        <ConfirmDialog
          title="Delete this memory?"
          confirmLabel="Delete memory"
          busy={busy}
          onCancel={() => setAsking(false)}
          onConfirm={async () => {
            setBusy(true);
            try {
              await clients.memories.deleteMemory({ name: memory.name, etag: memory.etag });
              onDeleted();
            } catch (err) {
              setError(err);
              setAsking(false);
            } finally {
              setBusy(false);
            }
          }}
        >
          <p>“{memory.content}”</p>
        </ConfirmDialog>
      ) : null}
      {error !== undefined ? <ErrorMessage error={error} title="Could not delete" /> : null}
    </>
  );
}
