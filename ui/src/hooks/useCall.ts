// One API call run when its inputs change: its result, its error, and a way to run it again.
import { useCallback, useEffect, useState } from "react";

export interface CallState<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

export function useCall<T>(
  call: (signal: AbortSignal) => Promise<T>,
  deps: readonly unknown[],
): CallState<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<unknown>();
  const [loading, setLoading] = useState(true);
  const [generation, setGeneration] = useState(0);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);

  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    setError(undefined);
    call(controller.signal).then(
      (value) => {
        if (controller.signal.aborted) return;
        setData(value);
        setLoading(false);
      },
      (err: unknown) => {
        if (controller.signal.aborted) return;
        setError(err);
        setData(undefined);
        setLoading(false);
      },
    );
    return () => controller.abort();
    // The caller names the inputs of `call` in deps, as with useEffect.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, generation]);

  return { data, error, loading, reload };
}
