// The application: sign-in, then the page the location hash names.
import { useMemo, useState } from "react";
import { createClients } from "./api/clients";
import { ClientsContext } from "./api/context";
import { clearSession, loadSession, saveSession, type Session } from "./api/session";
import { ErrorBoundary } from "./components/ErrorBoundary";
import { Layout } from "./components/Layout";
import { SignIn } from "./components/SignIn";
import { Pages } from "./Pages";
import { hrefOf, useRoute } from "./router";

export function App() {
  const [session, setSession] = useState<Session | null>(() => loadSession());
  const route = useRoute();
  const clients = useMemo(() => (session ? createClients(session.apiKey) : null), [session]);

  if (session === null || clients === null) {
    return (
      <SignIn
        onSignIn={(s) => {
          saveSession(s);
          setSession(s);
          if (route.page === "home" && s.user) {
            window.location.hash = hrefOf({ page: "memories", user: s.user });
          }
        }}
      />
    );
  }
  const user = "user" in route ? route.user : session.user;
  return (
    <ClientsContext.Provider value={clients}>
      <Layout
        route={route}
        user={user}
        onSignOut={() => {
          clearSession();
          setSession(null);
        }}
      >
        <ErrorBoundary resetKey={hrefOf(route)}>
          <Pages route={route} session={session} />
        </ErrorBoundary>
      </Layout>
    </ClientsContext.Provider>
  );
}
