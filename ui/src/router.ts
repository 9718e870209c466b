// Hash routing: every page of the UI lives after '#' (`/#/users/alice/memories`), so the
// server only ever serves '/' and its assets, and no UI path can shadow a REST path.
import { useEffect, useState } from "react";

export type Route =
  | { page: "home" }
  | { page: "memories"; user: string }
  | { page: "memory"; user: string; memory: string }
  | { page: "graph"; user: string }
  | { page: "transfer"; user: string }
  | { page: "admin"; section: AdminSection }
  | { page: "notFound"; path: string };

export const ADMIN_SECTIONS = ["keys", "users", "usage", "status"] as const;
export type AdminSection = (typeof ADMIN_SECTIONS)[number];

/** The route of a location hash ("#/users/alice/memories"); unknown paths are notFound. */
export function parseHash(hash: string): Route {
  const path = hash.replace(/^#/, "").replace(/\/+$/, "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { page: "home" };
  const [head, user, kind, memory, ...rest] = parts;
  if (head === "users" && user) {
    if (kind === "memories" && memory === undefined) return { page: "memories", user };
    if (kind === "memories" && memory && rest.length === 0) {
      return { page: "memory", user, memory };
    }
    if (kind === "graph" && memory === undefined) return { page: "graph", user };
    if (kind === "transfer" && memory === undefined) return { page: "transfer", user };
  }
  if (head === "admin" && parts.length <= 2) {
    const section = (user ?? "keys") as AdminSection;
    if (ADMIN_SECTIONS.includes(section)) return { page: "admin", section };
  }
  return { page: "notFound", path: `/${path.replace(/^\//, "")}` };
}

/** The hash of a route, with each segment escaped. */
export function hrefOf(route: Route): string {
  const seg = encodeURIComponent;
  switch (route.page) {
    case "home":
      return "#/";
    case "memories":
      return `#/users/${seg(route.user)}/memories`;
    case "memory":
      return `#/users/${seg(route.user)}/memories/${seg(route.memory)}`;
    case "graph":
      return `#/users/${seg(route.user)}/graph`;
    case "transfer":
      return `#/users/${seg(route.user)}/transfer`;
    case "admin":
      return `#/admin/${route.section}`;
    case "notFound":
      return `#${route.path}`;
  }
}

/** The route of a memory's resource name, `users/{user}/memories/{memory}`. */
export function memoryRoute(name: string): Route {
  const [, user = "", , memory = ""] = name.split("/");
  return { page: "memory", user, memory };
}

export function navigate(route: Route): void {
  window.location.hash = hrefOf(route);
}

/** The current route, following the location hash. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseHash(window.location.hash));
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return route;
}
