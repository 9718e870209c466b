// A word diff, marked up as insertions and deletions (read out as such by screen readers).
import { diffWords } from "./diff";

export function Diff({ before, after }: { before: string; after: string }) {
  return (
    <p className="diff">
      {diffWords(before, after).map((part, i) =>
        part.kind === "added" ? (
          <ins key={i}>{part.text}</ins>
        ) : part.kind === "removed" ? (
          <del key={i}>{part.text}</del>
        ) : (
          <span key={i}>{part.text}</span>
        ),
      )}
    </p>
  );
}
