/** A comma-separated list, trimmed, without empty items ("a, b,," -> ["a", "b"]). */
export function parseList(text: string): string[] {
  return text
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);
}
