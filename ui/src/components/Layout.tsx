// The frame of every signed-in page: navigation for the current user and the admin pages.
import type { ReactNode } from "react";
import { hrefOf, type Route } from "../router";
import { UserSwitcher } from "./UserSwitcher";

interface Props {
  route: Route;
  user: string;
  onSignOut: () => void;
  children: ReactNode;
}

export function Layout({ route, user, onSignOut, children }: Props) {
  const links: { label: string; target: Route }[] = user
    ? [
        { label: "Memories", target: { page: "memories", user } },
        { label: "Graph", target: { page: "graph", user } },
        { label: "Import / export", target: { page: "transfer", user } },
      ]
    : [];
  links.push({ label: "Admin", target: { page: "admin", section: "keys" } });
  return (
    <>
      <a className="skip" href="#main" onClick={skipToMain}>
        Skip to content
      </a>
      <header className="top">
        <a className="brand" href={hrefOf({ page: "home" })}>
          mem0-stack
        </a>
        <nav aria-label="Main">
          <ul>
            {links.map((link) => (
              <li key={link.label}>
                <a
                  href={hrefOf(link.target)}
                  aria-current={samePage(route, link.target) ? "page" : undefined}
                >
                  {link.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <UserSwitcher current={user} />
        <button type="button" className="sign-out" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </>
  );
}

function samePage(route: Route, target: Route): boolean {
  if (route.page === "memory") return target.page === "memories";
  return route.page === target.page;
}

function skipToMain(event: React.MouseEvent) {
  // The hash is the router's: move focus without changing it.
  event.preventDefault();
  document.getElementById("main")?.focus();
}
