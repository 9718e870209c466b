// A word-level diff of two texts (longest common subsequence), for the revision history.

export interface DiffPart {
  kind: "same" | "added" | "removed";
  text: string;
}

/** Splits into words and the whitespace after them, so the parts join back to the text. */
function tokens(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? [];
}

export function diffWords(before: string, after: string): DiffPart[] {
  const a = tokens(before);
  const b = tokens(after);
  // lcs[i][j]: the longest common subsequence of a[i:] and b[j:].
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const parts: DiffPart[] = [];
  const push = (kind: DiffPart["kind"], text: string) => {
    const last = parts[parts.length - 1];
    if (last && last.kind === kind) last.text += text;
    else parts.push({ kind, text });
  };
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      push("same", a[i]!);
      i++;
      j++;
    } else if (lcs[i + 1]![j]! >= lcs[i]![j + 1]!) {
      push("removed", a[i++]!);
    } else {
      push("added", b[j++]!);
    }
  }
  while (i < a.length) push("removed", a[i++]!);
  while (j < b.length) push("added", b[j++]!);
  return parts;
}

/** The keys of two JSON objects whose values differ, with both values as JSON text. */
export function diffObjects(
  before: Record<string, unknown> | undefined,
  after: Record<string, unknown> | undefined,
): { key: string; before?: string; after?: string }[] {
  const keys = new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})]);
  const changes: { key: string; before?: string; after?: string }[] = [];
  for (const key of [...keys].sort()) {
    const b = before && key in before ? JSON.stringify(before[key]) : undefined;
    const a = after && key in after ? JSON.stringify(after[key]) : undefined;
    if (a !== b) changes.push({ key, before: b, after: a });
  }
  return changes;
}
