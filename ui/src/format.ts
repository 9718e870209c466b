// Small display helpers for protobuf values.
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";

export function formatTime(ts: Timestamp | undefined): string {
  if (!ts) return "";
  return timestampDate(ts).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

/** The last segment of a resource name (`users/alice/memories/abc` -> `abc`). */
export function shortId(name: string): string {
  return name.slice(name.lastIndexOf("/") + 1);
}

export function formatScore(score: number): string {
  return score.toFixed(3);
}
