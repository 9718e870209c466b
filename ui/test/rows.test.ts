import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { Memory_State, MemorySchema } from "@client/gen/mem0stack/v1/memory_pb.js";
import { MemoryChange_Type, MemoryChangeSchema } from "@client/gen/mem0stack/v1/streams_pb.js";
import { applyChange, type Row } from "../src/memories/rows";

const memory = (id: string, content: string, state = Memory_State.ACTIVE) =>
  create(MemorySchema, { name: `users/alice/memories/${id}`, content, state });
const change = (type: MemoryChange_Type, m = memory("1", "one")) =>
  create(MemoryChangeSchema, { type, memory: m });

describe("live changes", () => {
  const rows: Row[] = [{ memory: memory("2", "two") }, { memory: memory("1", "one") }];

  it("puts a new memory on top", () => {
    const next = applyChange(rows, change(MemoryChange_Type.CREATED, memory("3", "three")));
    expect(next.map((r) => r.memory.content)).toEqual(["three", "two", "one"]);
    expect(next[0]?.live).toBe("created");
  });

  it("replaces an updated memory where it is", () => {
    const next = applyChange(rows, change(MemoryChange_Type.UPDATED, memory("1", "one, edited")));
    expect(next.map((r) => r.memory.content)).toEqual(["two", "one, edited"]);
    expect(next[1]?.live).toBe("updated");
  });

  it("removes deleted, expired and superseded memories", () => {
    for (const type of [
      MemoryChange_Type.DELETED,
      MemoryChange_Type.EXPIRED,
      MemoryChange_Type.SUPERSEDED,
    ]) {
      expect(applyChange(rows, change(type)).map((r) => r.memory.content)).toEqual(["two"]);
    }
  });

  it("ignores the removal of a memory it does not show", () => {
    expect(applyChange(rows, change(MemoryChange_Type.DELETED, memory("9", "x")))).toBe(rows);
  });
});
