// What the memories table shows: a listing with a filter, or a search.
import { SearchMemoriesRequest_Mode } from "@client/gen/mem0stack/v1/memory_service_pb.js";

export interface MemoryQuery {
  /** The AIP-160 filter (ListMemories' and SearchMemories' `filter`). */
  filter: string;
  /** The search text; empty lists instead of searching. */
  search: string;
  mode: SearchMemoriesRequest_Mode;
}

export const EMPTY_QUERY: MemoryQuery = {
  filter: "",
  search: "",
  mode: SearchMemoriesRequest_Mode.HYBRID,
};

export const SEARCH_MODES: { mode: SearchMemoriesRequest_Mode; label: string }[] = [
  { mode: SearchMemoriesRequest_Mode.HYBRID, label: "Hybrid (semantic + full text)" },
  { mode: SearchMemoriesRequest_Mode.VECTOR, label: "Semantic" },
  { mode: SearchMemoriesRequest_Mode.KEYWORD, label: "Full text" },
];
