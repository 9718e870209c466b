// The answering server and its database: version, models, graph lag, size and counts.
import { useClients } from "../api/context";
import { ErrorMessage } from "../components/ErrorMessage";
import { formatTime } from "../format";
import { useCall } from "../hooks/useCall";

export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export function StatusSection() {
  const clients = useClients();
  const status = useCall((signal) => clients.admin.getServerStatus({}, { signal }), [clients]);
  if (status.error !== undefined) return <ErrorMessage error={status.error} title="Could not load the status" />;
  if (!status.data) return <p aria-busy="true">Loading…</p>;
  const s = status.data;
  const facts: [string, string][] = [
    ["Version", s.version],
    ["Started", formatTime(s.startTime)],
    ["Mode", s.developmentMode ? "development (no API key yet)" : "API keys required"],
    ["Embedder", `${s.embedderModel} (${s.embeddingDimension} dimensions)`],
    ["LLM", s.llmConfigured ? s.llmModel : "not configured"],
    ["Graph memory", s.graphEnabled ? "on" : "off"],
    ["Graph jobs pending", s.graphEnabled ? String(s.graphPendingJobs) : "—"],
    ["Graph lag", s.graphEnabled ? `${s.graphLagSeconds.toFixed(1)} s` : "—"],
    ["Database size", formatBytes(Number(s.databaseBytes))],
    ["Active memories", String(s.activeMemories)],
    ["Users", String(s.users)],
  ];
  return (
    <>
      <dl className="cards status">
        {facts.map(([label, value]) => (
          <div className="card" key={label}>
            <dt>{label}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
      <div className="actions">
        <button type="button" onClick={status.reload}>
          Refresh
        </button>
      </div>
    </>
  );
}
