// Exports a user's memories (the ExportMemories stream) into a JSON-lines file to download.
import { useRef, useState } from "react";
import { useClients } from "../api/context";
import { ErrorMessage } from "../components/ErrorMessage";
import { exportLine } from "./records";

export function ExportPanel({ user }: { user: string }) {
  const clients = useClients();
  const [filter, setFilter] = useState("");
  const [embeddings, setEmbeddings] = useState(false);
  const [count, setCount] = useState<number>();
  const [running, setRunning] = useState(false);
  const [error, setError] = useState<unknown>();
  const [file, setFile] = useState<{ url: string; name: string }>();
  const abort = useRef<AbortController>(null);

  async function run(event: React.FormEvent) {
    event.preventDefault();
    const controller = new AbortController();
    abort.current = controller;
    setRunning(true);
    setError(undefined);
    setCount(0);
    if (file) URL.revokeObjectURL(file.url);
    setFile(undefined);
    const lines: string[] = [];
    try {
      const stream = clients.memories.exportMemories(
        { parent: `users/${user}`, filter, includeEmbeddings: embeddings },
        { signal: controller.signal, timeoutMs: 0 },
      );
      for await (const message of stream) {
        if (message.memory) lines.push(exportLine(message.memory, message.embedding));
        if (lines.length % 50 === 0) setCount(lines.length);
      }
      setCount(lines.length);
      const blob = new Blob(lines.length ? [lines.join("\n") + "\n"] : [], { type: "application/x-ndjson" });
      const name = `${user}-memories.jsonl`;
      const url = URL.createObjectURL(blob);
      setFile({ url, name });
      // Start the download at once; the link stays for a second try.
      const link = document.createElement("a");
      link.href = url;
      link.download = name;
      link.click();
    } catch (err) {
      setError(err);
    } finally {
      setRunning(false);
    }
  }

  return (
    <section className="panel" aria-labelledby="export-title">
      <h2 id="export-title">Export</h2>
      <form className="stack" onSubmit={run} aria-label="Export memories">
        <label htmlFor="export-filter">Filter (optional)</label>
        <input id="export-filter" value={filter} onChange={(e) => setFilter(e.target.value)} />
        <label className="inline">
          <input type="checkbox" checked={embeddings} onChange={(e) => setEmbeddings(e.target.checked)} /> Include
          embeddings (an import into a server with the same embedder skips embedding)
        </label>
        <div className="actions">
          <button type="submit" disabled={running}>
            Export
          </button>
          {running ? (
            <button type="button" onClick={() => abort.current?.abort()}>
              Stop
            </button>
          ) : null}
        </div>
      </form>
      {count !== undefined ? (
        <p role="status">
          {running ? <progress aria-label="Exporting" /> : null} {count} memories exported
          {file ? (
            <>
              {" — "}
              <a href={file.url} download={file.name}>
                Download {file.name}
              </a>
            </>
          ) : null}
        </p>
      ) : null}
      {error !== undefined ? <ErrorMessage error={error} title="The export stopped" /> : null}
    </section>
  );
}
