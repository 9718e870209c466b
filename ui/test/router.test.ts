import { describe, expect, it } from "vitest";
import { hrefOf, memoryRoute, parseHash, type Route } from "../src/router";

describe("hash routes", () => {
  it("parses every page", () => {
    expect(parseHash("")).toEqual({ page: "home" });
    expect(parseHash("#/")).toEqual({ page: "home" });
    expect(parseHash("#/users/alice/memories")).toEqual({ page: "memories", user: "alice" });
    expect(parseHash("#/users/alice/memories/m1/")).toEqual({
      page: "memory",
      user: "alice",
      memory: "m1",
    });
    expect(parseHash("#/users/alice/graph")).toEqual({ page: "graph", user: "alice" });
    expect(parseHash("#/users/alice/transfer")).toEqual({ page: "transfer", user: "alice" });
    expect(parseHash("#/admin")).toEqual({ page: "admin", section: "keys" });
    expect(parseHash("#/admin/usage")).toEqual({ page: "admin", section: "usage" });
  });

  it("sends unknown paths to notFound instead of guessing", () => {
    expect(parseHash("#/admin/nothing")).toEqual({ page: "notFound", path: "/admin/nothing" });
    expect(parseHash("#/users/alice/memories/m1/extra")).toMatchObject({ page: "notFound" });
    expect(parseHash("#/v1/users/alice/memories")).toMatchObject({ page: "notFound" });
  });

  it("round-trips user ids with characters that need escaping", () => {
    const routes: Route[] = [
      { page: "memories", user: "a@b.c+d" },
      { page: "memory", user: "x/y", memory: "id 1" },
      { page: "graph", user: "ü" },
    ];
    for (const route of routes) expect(parseHash(hrefOf(route))).toEqual(route);
  });

  it("turns a memory's resource name into its page", () => {
    expect(memoryRoute("users/alice/memories/abc")).toEqual({
      page: "memory",
      user: "alice",
      memory: "abc",
    });
  });
});
