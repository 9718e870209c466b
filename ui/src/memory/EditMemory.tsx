// Edits a memory's content, categories and metadata (UpdateMemory with an update mask of the
// fields that changed, and the etag, so a concurrent change is not overwritten).
import { useState } from "react";
import type { JsonObject } from "@bufbuild/protobuf";
import type { Memory } from "@client/gen/mem0stack/v1/memory_pb.js";
import { useClients } from "../api/context";
import { ErrorMessage } from "../components/ErrorMessage";
import { parseList } from "../text";

interface Props {
  memory: Memory;
  onSaved: (memory: Memory) => void;
  onCancel: () => void;
}

export function EditMemory({ memory, onSaved, onCancel }: Props) {
  const clients = useClients();
  const [content, setContent] = useState(memory.content);
  const [categories, setCategories] = useState(memory.categories.join(", "));
  const [metadata, setMetadata] = useState(JSON.stringify(memory.metadata ?? {}, null, 2));
  const [problem, setProblem] = useState("");
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  async function save(event: React.FormEvent) {
    event.preventDefault();
    setProblem("");
    setError(undefined);
    let parsed: JsonObject;
    try {
      const value: unknown = JSON.parse(metadata || "{}");
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        throw new Error("metadata must be a JSON object");
      }
      parsed = value as JsonObject;
    } catch (err) {
      setProblem(`Metadata: ${(err as Error).message}`);
      return;
    }
    const paths: string[] = [];
    const cats = parseList(categories);
    if (content !== memory.content) paths.push("content");
    if (cats.join("\u0000") !== memory.categories.join("\u0000")) paths.push("categories");
    if (JSON.stringify(parsed) !== JSON.stringify(memory.metadata ?? {})) paths.push("metadata");
    if (paths.length === 0) {
      onCancel();
      return;
    }
    setBusy(true);
    try {
      const updated = await clients.memories.updateMemory({
        memory: { name: memory.name, etag: memory.etag, content, categories: cats, metadata: parsed },
        updateMask: { paths },
      });
      onSaved(updated);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="edit-memory" onSubmit={save} aria-label="Edit memory">
      <label htmlFor="edit-content">Content</label>
      <textarea
        id="edit-content"
        value={content}
        rows={3}
        required
        onChange={(e) => setContent(e.target.value)}
      />
      <label htmlFor="edit-categories">Categories (comma-separated)</label>
      <input id="edit-categories" value={categories} onChange={(e) => setCategories(e.target.value)} />
      <label htmlFor="edit-metadata">Metadata (JSON object)</label>
      <textarea
        id="edit-metadata"
        className="code"
        value={metadata}
        rows={5}
        onChange={(e) => setMetadata(e.target.value)}
      />
      {problem ? (
        <p role="alert" className="error">
          {problem}
        </p>
      ) : null}
      {error !== undefined ? <ErrorMessage error={error} title="Could not save" /> : null}
      <div className="actions">
        <button type="submit" disabled={busy}>
          Save
        </button>
        <button type="button" onClick={onCancel} disabled={busy}>
          Cancel
        </button>
      </div>
    </form>
  );
}
