// The file format of exports and imports: JSON lines, one memory each, as `mem0stack export`
// writes them (the Memory's proto JSON with proto field names, `embedding` when asked for).
// Imports also take mem0's export records ({"memory": "...", "id": ...}).
import { fromJson, toJson, type JsonObject } from "@bufbuild/protobuf";
import { MemorySchema, type Memory } from "@client/gen/mem0stack/v1/memory_pb.js";

/** One line of an export file. */
export function exportLine(memory: Memory, embedding?: number[]): string {
  const record = toJson(MemorySchema, memory, { useProtoFieldName: true }) as JsonObject;
  if (embedding && embedding.length > 0) {
    record.embedding = embedding.map((v) => Math.round(v * 1e7) / 1e7);
  }
  return JSON.stringify(record);
}

/** An ImportMemoriesRequest as JSON (the REST body is an array of them), without parent. */
export interface ImportItem {
  memory: JsonObject;
  source_id: string;
  embedding?: number[];
}

export interface ParsedFile {
  items: ImportItem[];
  /** Lines that could not be read, "line N: why". */
  problems: string[];
}

export function parseImportFile(text: string): ParsedFile {
  const items: ImportItem[] = [];
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((line, index) => {
    if (!line.trim()) return;
    try {
      items.push(importItem(JSON.parse(line) as unknown));
    } catch (err) {
      problems.push(`line ${index + 1}: ${(err as Error).message}`);
    }
  });
  return { items, problems };
}

function importItem(record: unknown): ImportItem {
  if (typeof record !== "object" || record === null || Array.isArray(record)) {
    throw new Error("not a JSON object");
  }
  const { embedding, ...rest } = record as JsonObject;
  const vector = Array.isArray(embedding) ? embedding.map(Number) : undefined;
  if (typeof rest.memory === "string" && rest.content === undefined) {
    // mem0's export: its text is "memory" and its id the source id.
    const memory = fromJson(
      MemorySchema,
      {
        content: rest.memory,
        agent_id: str(rest.agent_id),
        run_id: str(rest.run_id),
        actor_id: str(rest.actor_id),
        metadata: isObject(rest.metadata) ? rest.metadata : {},
      },
      { ignoreUnknownFields: true },
    );
    return item(memory, str(rest.id), vector);
  }
  // Our own export (checked and cleaned by the proto's own JSON rules).
  const memory = fromJson(MemorySchema, rest, { ignoreUnknownFields: true });
  return item(memory, memory.uid, vector);
}

function item(memory: Memory, sourceId: string, embedding?: number[]): ImportItem {
  if (!memory.content.trim()) throw new Error("no memory text");
  // The server names the memory anew under the importing user.
  const json = toJson(MemorySchema, { ...memory, name: "", uid: "" }, { useProtoFieldName: true }) as JsonObject;
  return { memory: json, source_id: sourceId, ...(embedding?.length ? { embedding } : {}) };
}

function str(value: unknown): string {
  return value === undefined || value === null ? "" : String(value);
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
