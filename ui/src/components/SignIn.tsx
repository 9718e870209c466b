// Sign in with an API key. The key is checked with one small call before it is kept; in
// development mode (a server that has never held a key) an empty key works.
import { Code, ConnectError } from "@connectrpc/connect";
import { useState } from "react";
import { createClients, type Clients } from "../api/clients";
import type { Session } from "../api/session";
import { ErrorMessage } from "./ErrorMessage";

interface Props {
  onSignIn: (session: Session) => void;
  /** Makes the clients for a key (tests pass their own transport). */
  makeClients?: (apiKey: string) => Clients;
}

export function SignIn({ onSignIn, makeClients = createClients }: Props) {
  const [apiKey, setApiKey] = useState("");
  const [user, setUser] = useState("");
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  async function submit(event: React.FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    const clients = makeClients(apiKey.trim());
    try {
      // A user key proves itself on its user; any key on the health of the memory API,
      // which a wrong key fails as UNAUTHENTICATED.
      await clients.memories.listMemories({
        parent: `users/${user.trim() || "_"}`,
        pageSize: 1,
      });
      onSignIn({ apiKey: apiKey.trim(), user: user.trim() });
    } catch (err) {
      // Without a user an admin key has no collection to read; PERMISSION_DENIED on the
      // placeholder still means the key itself was accepted.
      if (!user.trim() && isAcceptedKey(err)) {
        onSignIn({ apiKey: apiKey.trim(), user: "" });
      } else {
        setError(err);
      }
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="sign-in">
      <h1>mem0-stack</h1>
      <form onSubmit={submit} aria-label="Sign in">
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          type="password"
          autoComplete="off"
          value={apiKey}
          onChange={(e) => setApiKey(e.target.value)}
          placeholder="m0s_..."
        />
        <p className="hint">
          Kept in this tab only (session storage). Leave it empty on a server in development mode.
        </p>
        <label htmlFor="sign-in-user">User to open</label>
        <input
          id="sign-in-user"
          value={user}
          onChange={(e) => setUser(e.target.value)}
          placeholder="alice"
        />
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
      {error !== undefined ? <ErrorMessage error={error} title="Sign-in failed" /> : null}
    </main>
  );
}

function isAcceptedKey(error: unknown): boolean {
  const code = ConnectError.from(error).code;
  return code === Code.PermissionDenied || code === Code.NotFound;
}
