// Whether the table follows the user's changes as they happen.
import { describeError } from "../api/errors";
import type { WatchStatus } from "../hooks/useWatch";

export function LiveStatus({ status }: { status: WatchStatus }) {
  const text = {
    off: "Live updates off",
    connecting: "Connecting…",
    live: "Live",
    retrying: "Reconnecting",
  }[status.state];
  const detail =
    status.state === "retrying"
      ? ` (${describeError(status.error).reason || describeError(status.error).code}: ${describeError(status.error).message})`
      : "";
  return (
    <span className={`live-status live-${status.state}`} role="status" data-state={status.state}>
      {text}
      {detail}
    </span>
  );
}
