// Import and export of one user's memories.
import { ExportPanel } from "../transfer/ExportPanel";
import { ImportPanel } from "../transfer/ImportPanel";

export function TransferPage({ user }: { user: string }) {
  return (
    <section aria-labelledby="transfer-title">
      <h1 id="transfer-title">
        Import and export <span className="user-name">{user}</span>
      </h1>
      <div className="cards">
        <ExportPanel user={user} />
        <ImportPanel user={user} />
      </div>
    </section>
  );
}
