// ImportMemories over REST (POST /v1/memories:import, a JSON array of its messages): the one
// call the UI does not make over gRPC-web, because browsers cannot stream a request body.
// XMLHttpRequest, not fetch, because it reports upload progress.
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "@client/gen/google/rpc/error_details_pb.js";
import type { ImportItem } from "./records";

export interface ImportSummary {
  imported: number;
  skipped: number;
  failed: number;
  failures: { index: number; reason: string }[];
}

/** A google.rpc.Status in JSON (Envoy's transcoder sends errors so) as a ConnectError. */
export function statusError(httpStatus: number, body: string): ConnectError {
  try {
    const status = JSON.parse(body) as {
      code?: number;
      message?: string;
      details?: { "@type"?: string; reason?: string; domain?: string; metadata?: Record<string, string> }[];
    };
    const info = status.details?.find((d) => d["@type"]?.endsWith("google.rpc.ErrorInfo"));
    return new ConnectError(
      status.message ?? `HTTP ${httpStatus}`,
      (status.code ?? Code.Unknown) as Code,
      undefined,
      info
        ? [{ desc: ErrorInfoSchema, value: { reason: info.reason ?? "", domain: info.domain ?? "", metadata: info.metadata ?? {} } }]
        : [],
    );
  } catch {
    return new ConnectError(`HTTP ${httpStatus}: ${body.slice(0, 200)}`, Code.Unknown);
  }
}

export function postImport(
  baseUrl: string,
  apiKey: string,
  user: string,
  items: ImportItem[],
  onProgress: (fraction: number) => void,
  signal?: AbortSignal,
): Promise<ImportSummary> {
  const body = JSON.stringify(items.map((item, i) => (i === 0 ? { parent: `users/${user}`, ...item } : item)));
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", new URL("/v1/memories:import", baseUrl).toString());
    xhr.setRequestHeader("content-type", "application/json");
    if (apiKey) xhr.setRequestHeader("authorization", `Bearer ${apiKey}`);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onerror = () => reject(new ConnectError("the gateway could not be reached", Code.Unavailable));
    xhr.onabort = () => reject(new ConnectError("cancelled", Code.Canceled));
    xhr.onload = () => {
      if (xhr.status !== 200) {
        reject(statusError(xhr.status, xhr.responseText));
        return;
      }
      const reply = JSON.parse(xhr.responseText) as Record<string, unknown>;
      resolve({
        imported: Number(reply.imported ?? 0),
        skipped: Number(reply.skipped ?? 0),
        failed: Number(reply.failed ?? 0),
        failures: ((reply.failures as { index?: string; reason?: string }[] | undefined) ?? []).map((f) => ({
          index: Number(f.index ?? 0),
          reason: f.reason ?? "",
        })),
      });
    };
    signal?.addEventListener("abort", () => xhr.abort());
    xhr.send(body);
  });
}
