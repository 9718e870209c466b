// One memory: its fields, edit and delete, its history and its graph relations.
import { useState } from "react";
import type { Memory } from "@client/gen/mem0stack/v1/memory_pb.js";
import { useClients } from "../api/context";
import { ErrorMessage } from "../components/ErrorMessage";
import { useCall } from "../hooks/useCall";
import { DeleteMemory } from "../memory/DeleteMemory";
import { EditMemory } from "../memory/EditMemory";
import { MemoryFacts } from "../memory/MemoryFacts";
import { MemoryRelations } from "../memory/MemoryRelations";
import { Revisions } from "../memory/Revisions";
import { hrefOf, navigate } from "../router";

export function MemoryPage({ user, memory: id }: { user: string; memory: string }) {
  const clients = useClients();
  const name = `users/${user}/memories/${id}`;
  const [editing, setEditing] = useState(false);
  const [saved, setSaved] = useState<Memory>();
  const result = useCall((signal) => clients.memories.getMemory({ name }, { signal }), [clients, name]);
  const memory = saved?.name === name ? saved : result.data;

  return (
    <section aria-labelledby="memory-title">
      <p>
        <a href={hrefOf({ page: "memories", user })}>← Memories of {user}</a>
      </p>
      {result.error !== undefined ? (
        <ErrorMessage error={result.error} title="Could not load the memory" />
      ) : !memory ? (
        <p aria-busy="true">Loading…</p>
      ) : (
        <>
          <h1 id="memory-title" className="memory-content">
            {memory.content}
          </h1>
          {editing ? (
            <EditMemory
              memory={memory}
              onCancel={() => setEditing(false)}
              onSaved={(m) => {
                setSaved(m);
                setEditing(false);
              }}
            />
          ) : (
            <div className="actions">
              <button type="button" onClick={() => setEditing(true)}>
                Edit
              </button>
              <DeleteMemory memory={memory} onDeleted={() => navigate({ page: "memories", user })} />
            </div>
          )}
          <MemoryFacts memory={memory} />
          <h2>History</h2>
          <Revisions name={name} version={memory.etag} />
          <h2>Graph relations</h2>
          <MemoryRelations name={name} version={memory.etag} />
        </>
      )}
    </section>
  );
}
