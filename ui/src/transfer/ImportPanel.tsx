// Imports a JSON-lines file (our export's format, or mem0's) into a user, in chunks, with
// the upload's progress; memories imported before (same source id) are skipped.
import { useState } from "react";
import { useClients } from "../api/context";
import { ErrorMessage } from "../components/ErrorMessage";
import { parseImportFile } from "./records";
import { postImport, type ImportSummary } from "./restImport";

// Memories per request: Envoy buffers each REST body whole (32 MiB at most), and the bar
// moves once per chunk besides the upload's own progress.
const CHUNK = 250;

export function ImportPanel({ user }: { user: string }) {
  const clients = useClients();
  const [file, setFile] = useState<File>();
  const [progress, setProgress] = useState<{ done: number; total: number }>();
  const [summary, setSummary] = useState<ImportSummary>();
  const [problems, setProblems] = useState<string[]>([]);
  const [error, setError] = useState<unknown>();
  const [running, setRunning] = useState(false);

  async function run(event: React.FormEvent) {
    event.preventDefault();
    if (!file) return;
    setRunning(true);
    setError(undefined);
    setSummary(undefined);
    const parsed = parseImportFile(await file.text());
    setProblems(parsed.problems);
    const total = parsed.items.length;
    const sum: ImportSummary = { imported: 0, skipped: 0, failed: 0, failures: [] };
    setProgress({ done: 0, total });
    try {
      for (let start = 0; start < total; start += CHUNK) {
        const chunk = parsed.items.slice(start, start + CHUNK);
        const reply = await postImport(clients.baseUrl, clients.apiKey, user, chunk, (fraction) =>
          setProgress({ done: start + Math.round(fraction * chunk.length * 0.9), total }),
        );
        sum.imported += reply.imported;
        sum.skipped += reply.skipped;
        sum.failed += reply.failed;
        sum.failures.push(...reply.failures.map((f) => ({ ...f, index: f.index + start })));
        setProgress({ done: start + chunk.length, total });
      }
      setSummary(sum);
    } catch (err) {
      setError(err);
      setSummary(sum);
    } finally {
      setRunning(false);
    }
  }

  return (
    <section className="panel" aria-labelledby="import-title">
      <h2 id="import-title">Import</h2>
      <form className="stack" onSubmit={run} aria-label="Import memories">
        <label htmlFor="import-file">JSON-lines file (a mem0-stack or mem0 export)</label>
        <input
          id="import-file"
          type="file"
          accept=".jsonl,.ndjson,.json,application/x-ndjson,application/json"
          onChange={(e) => setFile(e.target.files?.[0])}
        />
        <div className="actions">
          <button type="submit" disabled={!file || running}>
            Import into {user}
          </button>
        </div>
      </form>
      {progress ? (
        <p>
          <progress aria-label="Importing" value={progress.done} max={Math.max(progress.total, 1)} />{" "}
          <span role="status">
            {progress.done} of {progress.total} memories sent
          </span>
        </p>
      ) : null}
      {summary && !running ? (
        <p role="status" className="notice import-summary">
          {summary.imported} imported, {summary.skipped} skipped (already imported), {summary.failed} failed.
        </p>
      ) : null}
      {[...problems, ...(summary?.failures ?? []).map((f) => `memory ${f.index + 1}: ${f.reason}`)].length > 0 ? (
        <ul className="import-problems">
          {problems.map((p) => (
            <li key={p}>{p}</li>
          ))}
          {summary?.failures.map((f) => (
            <li key={`f${f.index}`}>
              memory {f.index + 1}: {f.reason}
            </li>
          ))}
        </ul>
      ) : null}
      {error !== undefined ? <ErrorMessage error={error} title="The import stopped" /> : null}
    </section>
  );
}
