// What a failed call says to a person: the gRPC code, the ErrorInfo reason and the message,
// decoded from the google.rpc.Status the server sends (the TypeScript client's decoder).
import { Code, ConnectError } from "@connectrpc/connect";
import { errorDetails } from "@client/errors.js";

export interface ApiError {
  /** The gRPC code's name, e.g. "PermissionDenied". */
  code: string;
  /** The ErrorInfo reason, e.g. "PERMISSION_DENIED"; empty when the error carries none. */
  reason: string;
  message: string;
  /** Invalid request fields (BadRequest), "field: description". */
  violations: string[];
}

export function describeError(error: unknown): ApiError {
  if (!(error instanceof ConnectError) && error instanceof Error && error.name === "AbortError") {
    return { code: Code[Code.Canceled], reason: "", message: "cancelled", violations: [] };
  }
  const details = errorDetails(error);
  return {
    code: Code[details.code] ?? String(details.code),
    reason: details.reasonName,
    message: details.message || "no message",
    violations: details.fieldViolations.map((v) => `${v.field}: ${v.description}`),
  };
}

/** Whether the error is the server's NOT_FOUND (a memory gone, or another user's). */
export function isNotFound(error: unknown): boolean {
  return ConnectError.from(error).code === Code.NotFound;
}
