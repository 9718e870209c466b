import { describe, expect, it } from "vitest";
import { clearSession, loadSession, saveSession } from "../src/api/session";

describe("session", () => {
  it("keeps the key in session storage only", () => {
    expect(loadSession()).toBeNull();
    saveSession({ apiKey: "m0s_secret", user: "alice" });
    expect(loadSession()).toEqual({ apiKey: "m0s_secret", user: "alice" });
    expect(window.localStorage.length).toBe(0);
    expect(window.location.href).not.toContain("m0s_secret");
    clearSession();
    expect(loadSession()).toBeNull();
  });

  it("keeps an empty key (development mode) as signed in", () => {
    saveSession({ apiKey: "", user: "" });
    expect(loadSession()).toEqual({ apiKey: "", user: "" });
  });
});
