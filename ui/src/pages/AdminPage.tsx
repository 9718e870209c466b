// The admin pages (admin keys only: a user key gets PERMISSION_DENIED, shown as such).
import { AdminTabs } from "../admin/AdminTabs";
import { KeysSection } from "../admin/KeysSection";
import { StatusSection } from "../admin/StatusSection";
import { UsageSection } from "../admin/UsageSection";
import { UsersSection } from "../admin/UsersSection";
import type { AdminSection } from "../router";

const TITLES: Record<AdminSection, string> = {
  keys: "API keys",
  users: "Users",
  usage: "Usage",
  status: "Server status",
};

export function AdminPage({ section, user }: { section: AdminSection; user: string }) {
  return (
    <section aria-labelledby="admin-title">
      <h1 id="admin-title">{TITLES[section]}</h1>
      <AdminTabs current={section} />
      {section === "keys" ? <KeysSection /> : null}
      {section === "users" ? <UsersSection /> : null}
      {section === "usage" ? <UsageSection initialUser={user} /> : null}
      {section === "status" ? <StatusSection /> : null}
    </section>
  );
}
