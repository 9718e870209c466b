/**
 * TypeScript client of mem0-stack, the self-hosted long-term memory server.
 *
 * ```ts
 * import { Mem0StackClient, ErrorReason, isReason } from "@mem0stack/client";
 *
 * const client = new Mem0StackClient("localhost:50051", { apiKey: process.env.MEM0STACK_API_KEY });
 * await client.create("alice", { content: "Prefers window seats" });
 * for await (const memory of client.list("alice")) console.log(memory.content);
 * ```
 *
 * The generated messages and the MemoryService, GraphService and AdminService descriptors
 * are exported too, for calls through `client.rpc`, `client.graph` and `client.admin`.
 */
export {
  DEFAULT_RETRY_POLICY,
  DEFAULT_TARGET,
  DEFAULT_TIMEOUT_MS,
  Mem0StackClient,
  isLoopback,
  operationResult,
  userName,
  type AddOptions,
  type ApiKeysOptions,
  type CallOptions,
  type ClientOptions,
  type EntitiesOptions,
  type EntityOptions,
  type ListOptions,
  type MemoryInit,
  type MessageInit,
  type RelationsOptions,
  type RetryPolicy,
  type SearchOptions,
  type TlsOptions,
  type UsersOptions,
  type WaitOptions,
} from "./client.js";
export {
  DOMAIN,
  errorDetails,
  errorFromStatus,
  isReason,
  reasonOf,
  type ErrorDetails,
  type FieldViolation,
} from "./errors.js";
export * from "./gen/mem0stack/v1/admin_pb.js";
export * from "./gen/mem0stack/v1/admin_service_pb.js";
export * from "./gen/mem0stack/v1/errors_pb.js";
export * from "./gen/mem0stack/v1/graph_pb.js";
export * from "./gen/mem0stack/v1/graph_service_pb.js";
export * from "./gen/mem0stack/v1/memory_pb.js";
export * from "./gen/mem0stack/v1/memory_service_pb.js";
export * from "./gen/mem0stack/v1/operation_pb.js";
export * from "./gen/mem0stack/v1/streams_pb.js";
export { Code, ConnectError } from "@connectrpc/connect";
