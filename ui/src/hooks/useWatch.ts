// Follows a user's WatchMemories stream while mounted: each change goes to onChange; a broken
// stream is resumed from its last cursor, so no change is missed or seen twice.
import { useEffect, useRef, useState } from "react";
import type { MemoryChange } from "@client/gen/mem0stack/v1/streams_pb.js";
import { useClients } from "../api/context";

export type WatchStatus =
  | { state: "off" }
  | { state: "connecting" }
  | { state: "live" }
  | { state: "retrying"; error: unknown };

const RETRY_MS = 2000;

export function useWatch(
  user: string,
  filter: string,
  enabled: boolean,
  onChange: (change: MemoryChange) => void,
): WatchStatus {
  const clients = useClients();
  const [status, setStatus] = useState<WatchStatus>({ state: "off" });
  const handler = useRef(onChange);
  handler.current = onChange;

  useEffect(() => {
    if (!enabled) {
      setStatus({ state: "off" });
      return;
    }
    const controller = new AbortController();
    const { signal } = controller;
    void (async () => {
      let cursor = "";
      while (!signal.aborted) {
        setStatus({ state: "connecting" });
        try {
          const stream = clients.memories.watchMemories(
            { parent: `users/${user}`, filter, cursor },
            // The server sends its headers once it listens for changes: from then on
            // nothing is missed, which is what "live" promises.
            { signal, timeoutMs: 0, onHeader: () => setStatus({ state: "live" }) },
          );
          for await (const message of stream) {
            cursor = message.cursor || cursor;
            if (message.change) handler.current(message.change);
          }
        } catch (error) {
          if (signal.aborted) return;
          setStatus({ state: "retrying", error });
          await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
        }
      }
    })();
    return () => controller.abort();
  }, [clients, user, filter, enabled]);

  return status;
}
