import { describe, expect, it } from "vitest";
import { diffObjects, diffWords } from "../src/memory/diff";

describe("word diff", () => {
  it("marks the changed words and keeps the rest", () => {
    expect(diffWords("Lives in Lisbon", "Lives in Porto")).toEqual([
      { kind: "same", text: "Lives in " },
      { kind: "removed", text: "Lisbon" },
      { kind: "added", text: "Porto" },
    ]);
  });

  it("joins back into both texts", () => {
    const before = "Prefers window seats on long flights";
    const after = "Prefers aisle seats on flights, always";
    const parts = diffWords(before, after);
    expect(parts.filter((p) => p.kind !== "added").map((p) => p.text).join("")).toBe(before);
    expect(parts.filter((p) => p.kind !== "removed").map((p) => p.text).join("")).toBe(after);
  });

  it("handles a creation and a deletion", () => {
    expect(diffWords("", "New memory")).toEqual([{ kind: "added", text: "New memory" }]);
    expect(diffWords("Old memory", "")).toEqual([{ kind: "removed", text: "Old memory" }]);
  });
});

describe("metadata diff", () => {
  it("lists added, removed and changed keys in order", () => {
    expect(diffObjects({ a: 1, b: "x", c: true }, { a: 1, b: "y", d: [1] })).toEqual([
      { key: "b", before: '"x"', after: '"y"' },
      { key: "c", before: "true", after: undefined },
      { key: "d", before: undefined, after: "[1]" },
    ]);
    expect(diffObjects(undefined, undefined)).toEqual([]);
  });
});
