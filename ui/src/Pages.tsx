// Which page a route shows. The graph (Cytoscape) and the admin pages (Recharts) are loaded
// when first opened, so the memories pages start without those libraries.
import { lazy, Suspense } from "react";
import type { Session } from "./api/session";
import { MemoriesPage } from "./pages/MemoriesPage";
import { MemoryPage } from "./pages/MemoryPage";
import { TransferPage } from "./pages/TransferPage";
import { hrefOf, type Route } from "./router";

const GraphPage = lazy(() => import("./pages/GraphPage").then((m) => ({ default: m.GraphPage })));
const AdminPage = lazy(() => import("./pages/AdminPage").then((m) => ({ default: m.AdminPage })));

export function Pages(props: { route: Route; session: Session }) {
  return (
    <Suspense fallback={<p aria-busy="true">Loading…</p>}>
      <Page {...props} />
    </Suspense>
  );
}

function Page({ route, session }: { route: Route; session: Session }) {
  switch (route.page) {
    case "home":
      return session.user ? (
        <MemoriesPage user={session.user} />
      ) : (
        <section>
          <h1>Welcome</h1>
          <p>Open a user's memories with the User box above, or go to the admin pages.</p>
        </section>
      );
    case "memories":
      return <MemoriesPage user={route.user} />;
    case "memory":
      return <MemoryPage user={route.user} memory={route.memory} />;
    case "graph":
      return <GraphPage user={route.user} />;
    case "admin":
      return <AdminPage section={route.section} user={session.user} />;
    case "transfer":
      return <TransferPage user={route.user} />;
    default:
      return (
        <section>
          <h1>Not found</h1>
          <p>
            No page at <code>{hrefOf(route)}</code>.
          </p>
        </section>
      );
  }
}
