// A user's daily usage as chart rows.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { UserUsage } from "@client/gen/mem0stack/v1/admin_pb.js";

export interface UsageRow {
  /** The day, YYYY-MM-DD (UTC). */
  day: string;
  memories: number;
  searches: number;
  promptTokens: number;
  completionTokens: number;
  llmCalls: number;
}

export function usageRows(usage: UserUsage): UsageRow[] {
  return usage.days.map((d) => ({
    day: d.startTime ? timestampDate(d.startTime).toISOString().slice(0, 10) : "",
    memories: Number(d.memoriesCreated),
    searches: Number(d.searches),
    promptTokens: Number(d.llmPromptTokens),
    completionTokens: Number(d.llmCompletionTokens),
    llmCalls: Number(d.llmCalls),
  }));
}

export function totals(rows: UsageRow[]): Omit<UsageRow, "day"> {
  return rows.reduce(
    (sum, r) => ({
      memories: sum.memories + r.memories,
      searches: sum.searches + r.searches,
      promptTokens: sum.promptTokens + r.promptTokens,
      completionTokens: sum.completionTokens + r.completionTokens,
      llmCalls: sum.llmCalls + r.llmCalls,
    }),
    { memories: 0, searches: 0, promptTokens: 0, completionTokens: 0, llmCalls: 0 },
  );
}
