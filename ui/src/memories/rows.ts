// The rows of the memories table, and how a change from the Watch stream moves them.
import type { Memory } from "@client/gen/mem0stack/v1/memory_pb.js";
import { Memory_State } from "@client/gen/mem0stack/v1/memory_pb.js";
import { MemoryChange_Type, type MemoryChange } from "@client/gen/mem0stack/v1/streams_pb.js";

export interface Row {
  memory: Memory;
  /** The search score; only for search results. */
  score?: number;
  /** Set on rows that arrived or changed through the live stream, for a brief highlight. */
  live?: "created" | "updated";
}

/**
 * The table after one change: new memories go on top (the list is newest first), updated
 * ones are replaced where they are, and deleted, expired or superseded ones leave (the
 * list shows ACTIVE memories, as ListMemories does without a state filter).
 */
export function applyChange(rows: Row[], change: MemoryChange): Row[] {
  const memory = change.memory;
  if (!memory) return rows;
  const index = rows.findIndex((row) => row.memory.name === memory.name);
  const gone =
    change.type === MemoryChange_Type.DELETED ||
    change.type === MemoryChange_Type.EXPIRED ||
    change.type === MemoryChange_Type.SUPERSEDED ||
    memory.state === Memory_State.SUPERSEDED;
  if (gone) return index < 0 ? rows : rows.filter((_, i) => i !== index);
  if (index >= 0) {
    const next = rows.slice();
    next[index] = { memory, live: "updated" };
    return next;
  }
  return [{ memory, live: "created" }, ...rows];
}
