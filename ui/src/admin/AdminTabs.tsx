// The admin pages' own navigation.
import { ADMIN_SECTIONS, hrefOf, type AdminSection } from "../router";

const LABELS: Record<AdminSection, string> = {
  keys: "API keys",
  users: "Users",
  usage: "Usage",
  status: "Server status",
};

export function AdminTabs({ current }: { current: AdminSection }) {
  return (
    <nav aria-label="Admin" className="tabs">
      <ul>
        {ADMIN_SECTIONS.map((section) => (
          <li key={section}>
            <a href={hrefOf({ page: "admin", section })} aria-current={section === current ? "page" : undefined}>
              {LABELS[section]}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}
