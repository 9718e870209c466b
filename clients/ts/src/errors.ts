import { Code, ConnectError } from "@connectrpc/connect";
import { durationMs } from "@bufbuild/protobuf/wkt";

import {
  BadRequestSchema,
  ErrorInfoSchema,
  RetryInfoSchema,
} from "./gen/google/rpc/error_details_pb.js";
import type { Status } from "./gen/google/rpc/status_pb.js";
import { ErrorReason } from "./gen/mem0stack/v1/errors_pb.js";

/** The ErrorInfo domain of every error the server raises. */
export const DOMAIN = "mem0stack.dev";

/** One invalid field of a request, from the error's BadRequest detail. */
export interface FieldViolation {
  field: string;
  description: string;
}

/** The decoded google.rpc.Status of a failed call. */
export interface ErrorDetails {
  /** The gRPC status code. */
  code: Code;
  /** The message without the code in front; do not branch on it. */
  message: string;
  /**
   * The ErrorInfo reason; ERROR_REASON_UNSPECIFIED when the error carries no ErrorInfo
   * (a connection failure) or a reason this client does not know.
   */
  reason: ErrorReason;
  /** The reason as sent, also for reasons this client does not know. */
  reasonName: string;
  domain: string;
  metadata: Record<string, string>;
  fieldViolations: FieldViolation[];
  /** How long the server asked the caller to wait (RetryInfo), in milliseconds. */
  retryDelayMs?: number;
}

/**
 * Decodes the status and error details of a failed call. Any error works: one that is
 * not a ConnectError is treated as code "unknown" (as Connect itself does).
 */
export function errorDetails(error: unknown): ErrorDetails {
  const err = ConnectError.from(error);
  const details: ErrorDetails = {
    code: err.code,
    message: err.rawMessage,
    reason: ErrorReason.ERROR_REASON_UNSPECIFIED,
    reasonName: "",
    domain: "",
    metadata: {},
    fieldViolations: [],
  };
  const [info] = err.findDetails(ErrorInfoSchema);
  if (info) {
    details.reasonName = info.reason;
    details.domain = info.domain;
    details.metadata = { ...info.metadata };
    details.reason = reasonOfName(info.reason);
  }
  for (const bad of err.findDetails(BadRequestSchema)) {
    for (const v of bad.fieldViolations) {
      details.fieldViolations.push({ field: v.field, description: v.description });
    }
  }
  const [retry] = err.findDetails(RetryInfoSchema);
  if (retry?.retryDelay) {
    details.retryDelayMs = durationMs(retry.retryDelay);
  }
  return details;
}

/**
 * The error a google.rpc.Status describes (e.g. a failed operation's `error`), as the
 * ConnectError a failed call would reject with: errorDetails and isReason read it.
 */
export function errorFromStatus(status: Status): ConnectError {
  const code = status.code in Code ? (status.code as Code) : Code.Unknown;
  const error = new ConnectError(status.message, code);
  for (const detail of status.details) {
    const type = detail.typeUrl.slice(detail.typeUrl.lastIndexOf("/") + 1);
    error.details.push({ type, value: detail.value });
  }
  return error;
}

/** The ErrorInfo reason of a failed call, or ERROR_REASON_UNSPECIFIED. */
export function reasonOf(error: unknown): ErrorReason {
  return errorDetails(error).reason;
}

/** Whether error carries the ErrorInfo reason `reason`. */
export function isReason(error: unknown, reason: ErrorReason): boolean {
  return error != null && reasonOf(error) === reason;
}

function reasonOfName(name: string): ErrorReason {
  const value = (ErrorReason as unknown as Record<string, number | undefined>)[name];
  return typeof value === "number" ? (value as ErrorReason) : ErrorReason.ERROR_REASON_UNSPECIFIED;
}
