// One user's usage over the last days: memories created, searches and LLM tokens.
import { useState } from "react";
import { useClients } from "../api/context";
import { ErrorMessage } from "../components/ErrorMessage";
import { useCall } from "../hooks/useCall";
import { UsageChart } from "./UsageChart";
import { totals, usageRows } from "./usage";

export function UsageSection({ initialUser }: { initialUser: string }) {
  const clients = useClients();
  const [draft, setDraft] = useState(initialUser);
  const [user, setUser] = useState(initialUser);
  const [days, setDays] = useState(30);
  const usage = useCall(
    (signal) =>
      user
        ? clients.admin.getUserUsage({ name: `users/${user}/usage`, days }, { signal })
        : Promise.resolve(undefined),
    [clients, user, days],
  );
  const rows = usage.data ? usageRows(usage.data) : [];
  const sum = totals(rows);
  return (
    <>
      <form
        className="query-form"
        aria-label="Choose the user and period"
        onSubmit={(e) => {
          e.preventDefault();
          setUser(draft.trim());
        }}
      >
        <div className="field wide">
          <label htmlFor="usage-user">User</label>
          <input id="usage-user" value={draft} onChange={(e) => setDraft(e.target.value)} required />
        </div>
        <div className="field">
          <label htmlFor="usage-days">Period</label>
          <select id="usage-days" value={days} onChange={(e) => setDays(Number(e.target.value))}>
            <option value={7}>7 days</option>
            <option value={30}>30 days</option>
            <option value={90}>90 days</option>
          </select>
        </div>
        <div className="field buttons">
          <button type="submit">Show</button>
        </div>
      </form>
      {!user ? (
        <p className="hint">Choose a user.</p>
      ) : usage.error !== undefined ? (
        <ErrorMessage error={usage.error} title="Could not load the usage" />
      ) : !usage.data ? (
        <p aria-busy="true">Loading…</p>
      ) : (
        <>
          <dl className="cards totals" aria-label={`Totals of ${user} over ${days} days`}>
            <div className="card">
              <dt>Memories created</dt>
              <dd>{sum.memories}</dd>
            </div>
            <div className="card">
              <dt>Searches</dt>
              <dd>{sum.searches}</dd>
            </div>
            <div className="card">
              <dt>LLM calls</dt>
              <dd>{sum.llmCalls}</dd>
            </div>
            <div className="card">
              <dt>LLM tokens (prompt + completion)</dt>
              <dd>
                {sum.promptTokens} + {sum.completionTokens}
              </dd>
            </div>
          </dl>
          <div className="charts">
            <UsageChart title="Memories created" rows={rows} series={[{ key: "memories", label: "Memories", color: "#1f4e79" }]} />
            <UsageChart title="Searches" rows={rows} series={[{ key: "searches", label: "Searches", color: "#2f7d4f" }]} />
            <UsageChart
              title="LLM tokens"
              rows={rows}
              series={[
                { key: "promptTokens", label: "Prompt", color: "#d9822b" },
                { key: "completionTokens", label: "Completion", color: "#8a5a9e" },
              ]}
            />
          </div>
        </>
      )}
    </>
  );
}
