// API keys: create (the secret shown once), list, revoke.
import { useState } from "react";
import { useClients } from "../api/context";
import { ErrorMessage } from "../components/ErrorMessage";
import { useCall } from "../hooks/useCall";
import { CreateKeyForm } from "./CreateKeyForm";
import { KeyTable } from "./KeyTable";

export function KeysSection() {
  const clients = useClients();
  const [showRevoked, setShowRevoked] = useState(false);
  const [error, setError] = useState<unknown>();
  const keys = useCall(
    async (signal) => {
      const all = [];
      let pageToken = "";
      do {
        const page = await clients.admin.listApiKeys({ pageSize: 200, pageToken, showRevoked }, { signal });
        all.push(...page.apiKeys);
        pageToken = page.nextPageToken;
      } while (pageToken);
      return all;
    },
    [clients, showRevoked],
  );
  return (
    <>
      <CreateKeyForm onCreated={keys.reload} />
      <h2>Keys</h2>
      <label className="inline">
        <input type="checkbox" checked={showRevoked} onChange={(e) => setShowRevoked(e.target.checked)} /> Show
        revoked keys
      </label>
      {error !== undefined ? <ErrorMessage error={error} title="Could not revoke" /> : null}
      {keys.error !== undefined ? (
        <ErrorMessage error={keys.error} title="Could not list the keys" />
      ) : !keys.data ? (
        <p aria-busy="true">Loading…</p>
      ) : (
        <KeyTable
          keys={keys.data}
          onRevoke={async (name) => {
            setError(undefined);
            try {
              await clients.admin.revokeApiKey({ name });
            } catch (err) {
              setError(err);
            }
            keys.reload();
          }}
        />
      )}
    </>
  );
}
