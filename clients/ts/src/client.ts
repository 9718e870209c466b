import { isIP, isIPv6 } from "node:net";
import type { SecureClientSessionOptions } from "node:http2";

import { clone, type MessageInitShape } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";

import { errorDetails, errorFromStatus } from "./errors.js";
import type { ApiKey, ServerStatus, UserSummary, UserUsage } from "./gen/mem0stack/v1/admin_pb.js";
import { AdminService, type EraseUserResponse } from "./gen/mem0stack/v1/admin_service_pb.js";
import type { Entity, GraphStatus, Relation } from "./gen/mem0stack/v1/graph_pb.js";
import { GraphService, type GetEntityResponse } from "./gen/mem0stack/v1/graph_service_pb.js";
import { WebhookService } from "./gen/mem0stack/v1/webhook_service_pb.js";
import {
  AddMemoriesResponseSchema,
  MemoryService,
  type AddMemoriesResponse,
  type SearchMemoriesRequest_Mode,
} from "./gen/mem0stack/v1/memory_service_pb.js";
import { Operation_State, type Operation } from "./gen/mem0stack/v1/operation_pb.js";
import type {
  Memory,
  MemoryRevision,
  MemorySchema,
  MessageSchema,
  SearchResult,
} from "./gen/mem0stack/v1/memory_pb.js";
import type { JsonObject } from "@bufbuild/protobuf";

/** Where `mem0stack serve` listens when it is not configured. */
export const DEFAULT_TARGET = "localhost:50051";

/** Milliseconds a unary call (all its attempts together) may take unless told otherwise. */
export const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * How calls that fail with a retryable code (UNAVAILABLE) are retried.
 *
 * The n-th retry waits initialBackoffMs * multiplier^(n-1), capped at maxBackoffMs, with
 * jitter (a random 50-100% of it), or longer when the server's RetryInfo asks for more.
 * Retries never outlast the call's deadline. maxAttempts 1 turns retries off.
 */
export interface RetryPolicy {
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  multiplier: number;
  retryableCodes: Code[];
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 4,
  initialBackoffMs: 100,
  maxBackoffMs: 5_000,
  multiplier: 2,
  retryableCodes: [Code.Unavailable],
});

/** TLS settings: trusted roots, a client certificate (mTLS), the name to verify. */
export type TlsOptions = Pick<SecureClientSessionOptions, "ca" | "cert" | "key" | "servername">;

export interface ClientOptions {
  /** Sent as `authorization: Bearer <key>`; leave it out for a server in development mode. */
  apiKey?: string;
  /**
   * true or TlsOptions for TLS, false for plaintext. Unset: plaintext to loopback targets
   * (a local development server) and TLS with the system's roots to anything else.
   */
  tls?: boolean | TlsOptions;
  /** Deadline of unary calls that pass no timeoutMs of their own (default 30 s). */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** More Connect interceptors, run inside the client's own (once per attempt). */
  interceptors?: Interceptor[];
}

/** Options every helper takes. */
export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** The memory fields a caller may set when creating or updating one. */
export type MemoryInit = MessageInitShape<typeof MemorySchema>;
/** A conversation turn: role ("user", "assistant", "system"), content, optional name. */
export type MessageInit = MessageInitShape<typeof MessageSchema>;

export interface AddOptions extends CallOptions {
  agentId?: string;
  runId?: string;
  metadata?: JsonObject;
  categories?: string[];
  /** false stores each message verbatim; unset means the server's default (true). */
  infer?: boolean;
  instructions?: string;
  /**
   * true: the server answers at once with the name of an operation (`response.operation`)
   * and does the work in the background; see waitOperation.
   */
  asyncMode?: boolean;
  requestId?: string;
}

export interface SearchOptions extends CallOptions {
  /** An AIP-160 expression, e.g. `agent_id = "travel"`. */
  filter?: string;
  /** The most results: 0 means 10, at most 100. */
  topK?: number;
  /** Drop results whose cosine similarity is lower. */
  minScore?: number;
  /** HYBRID (the server's default when unset), VECTOR or KEYWORD. */
  mode?: SearchMemoriesRequest_Mode;
  showExpired?: boolean;
}

export interface ListOptions extends CallOptions {
  filter?: string;
  orderBy?: string;
  pageSize?: number;
  showExpired?: boolean;
}

export interface WaitOptions extends CallOptions {
  /** How often to read an operation that is not done (default 200 ms). */
  pollMs?: number;
}

export interface EntitiesOptions extends CallOptions {
  /** AIP-160 over display_name, entity_type, alias, is_user, memory, *_time. */
  filter?: string;
  pageSize?: number;
}

export interface RelationsOptions extends CallOptions {
  /** AIP-160 over relation, source, target, entity, state, memory, *_time, ... */
  filter?: string;
  pageSize?: number;
  /** Include INVALID relations (the history). */
  showInvalid?: boolean;
}

export interface EntityOptions extends CallOptions {
  /** How far the neighbourhood reaches: 0 or 1, the entity's own relations; 2, its neighbours' too. */
  hops?: number;
  /** The most relations returned (0 means 100), newest first. */
  relationLimit?: number;
  showInvalid?: boolean;
}

export interface ApiKeysOptions extends CallOptions {
  pageSize?: number;
  /** Include revoked keys. */
  showRevoked?: boolean;
}

export interface UsersOptions extends CallOptions {
  /** Keep the users whose id starts with it. */
  prefix?: string;
  pageSize?: number;
}

// Creating calls get a request_id when the caller sent none, so that a retry after
// UNAVAILABLE cannot store the same memory twice (the server replays the first response).
const CREATING_METHODS = new Set(["CreateMemory", "BatchCreateMemories", "AddMemories"]);

/**
 * A connection to a mem0-stack server.
 *
 * Every RPC of mem0stack.v1 is a method of the generated Connect client of its service,
 * taking the generated request shapes, with this client's deadline, API key and retries
 * applied: `client.rpc` is MemoryService's, `client.graph` GraphService's, `client.webhooks`
 * WebhookService's, `client.admin` AdminService's. The methods here
 * (create, add, search, list, waitOperation, entities, apiKeys, users, ...) build the
 * requests for the common calls. Failed calls reject with a ConnectError; read its reason with
 * errorDetails/reasonOf.
 */
export class Mem0StackClient {
  readonly target: string;
  /** MemoryService: every RPC, e.g. `client.rpc.getOperation({ name })`. */
  readonly rpc: Client<typeof MemoryService>;
  /** GraphService: every RPC, e.g. `client.graph.listEntities({ parent: "users/alice" })`. */
  readonly graph: Client<typeof GraphService>;
  /** WebhookService: every RPC, e.g. `client.webhooks.createWebhook({ parent, webhook })`. */
  readonly webhooks: Client<typeof WebhookService>;
  /**
   * AdminService: every RPC, e.g. `client.admin.createApiKey({ apiKey })`. It needs an admin
   * key (or a server in development mode); a user key gets PERMISSION_DENIED.
   */
  readonly admin: Client<typeof AdminService>;
  private readonly timeoutMs: number;

  constructor(target: string = DEFAULT_TARGET, options: ClientOptions = {}) {
    this.target = target;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const retry: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    const tls = resolveTls(target, options.tls);
    const interceptors: Interceptor[] = [retryInterceptor(retry), requestIdInterceptor];
    if (options.apiKey) {
      interceptors.push(authInterceptor(options.apiKey));
    }
    interceptors.push(...(options.interceptors ?? []));
    const transport = createGrpcTransport({
      baseUrl: `${tls ? "https" : "http"}://${stripScheme(target)}`,
      defaultTimeoutMs: this.timeoutMs,
      interceptors,
      ...(tls ? { nodeOptions: tls } : {}),
    });
    this.rpc = createClient(MemoryService, transport);
    this.graph = createClient(GraphService, transport);
    this.webhooks = createClient(WebhookService, transport);
    this.admin = createClient(AdminService, transport);
  }

  /** Store a memory verbatim for `user` (a user id or "users/{id}"); only content is required. */
  create(user: string, memory: MemoryInit, options: CallOptions & { requestId?: string } = {}): Promise<Memory> {
    const { requestId, ...call } = options;
    return this.rpc.createMemory({ parent: userName(user), memory, requestId: requestId ?? "" }, call);
  }

  /** Turn a conversation (a string is one user turn) into memories of `user`. */
  add(user: string, messages: string | MessageInit[], options: AddOptions = {}): Promise<AddMemoriesResponse> {
    const { timeoutMs, signal, ...fields } = options;
    const turns = typeof messages === "string" ? [{ role: "user", content: messages }] : messages;
    return this.rpc.addMemories(
      {
        parent: userName(user),
        messages: turns,
        agentId: fields.agentId ?? "",
        runId: fields.runId ?? "",
        metadata: fields.metadata,
        categories: fields.categories ?? [],
        infer: fields.infer,
        instructions: fields.instructions ?? "",
        asyncMode: fields.asyncMode ?? false,
        requestId: fields.requestId ?? "",
      },
      { timeoutMs, signal },
    );
  }

  /** The memories of `user` most relevant to `query`, best first. */
  async search(user: string, query: string, options: SearchOptions = {}): Promise<SearchResult[]> {
    const { timeoutMs, signal, ...fields } = options;
    const response = await this.rpc.searchMemories(
      {
        parent: userName(user),
        query,
        filter: fields.filter ?? "",
        topK: fields.topK ?? 0,
        minScore: fields.minScore,
        mode: fields.mode,
        showExpired: fields.showExpired ?? false,
      },
      { timeoutMs, signal },
    );
    return response.results;
  }

  /** The memory named "users/{user}/memories/{memory}". */
  get(name: string, options: CallOptions = {}): Promise<Memory> {
    return this.rpc.getMemory({ name }, options);
  }

  /**
   * Every memory of `user` matching the options, fetching pages as the loop goes:
   * `for await (const memory of client.list("alice")) { ... }`.
   */
  list(user: string, options: ListOptions = {}): AsyncGenerator<Memory, void, undefined> {
    const { timeoutMs, signal, ...fields } = options;
    const request = {
      parent: userName(user),
      filter: fields.filter ?? "",
      orderBy: fields.orderBy ?? "",
      pageSize: fields.pageSize ?? 0,
      showExpired: fields.showExpired ?? false,
    };
    return pages(
      (pageToken) => this.rpc.listMemories({ ...request, pageToken }, { timeoutMs, signal }),
      (page) => page.memories,
    );
  }

  /**
   * Change the memory named `memory.name`. `paths` is the update mask ("content",
   * "metadata", "categories", "expire_time", "event_time"): only those fields change.
   * Without paths, every one of them that is set in `memory` changes. A non-empty
   * `memory.etag` makes the update conditional.
   */
  update(memory: MemoryInit & { name: string }, paths: string[] = [], options: CallOptions = {}): Promise<Memory> {
    return this.rpc.updateMemory(
      { memory, updateMask: paths.length ? { paths } : undefined },
      options,
    );
  }

  /** Delete one memory; its revisions stay readable. */
  async delete(name: string, options: CallOptions & { etag?: string } = {}): Promise<void> {
    const { etag, ...call } = options;
    await this.rpc.deleteMemory({ name, etag: etag ?? "" }, call);
  }

  /** Delete every memory of `user` matching `filter` (all of them when it is empty). */
  async deleteAll(user: string, filter = "", options: CallOptions = {}): Promise<bigint> {
    const response = await this.rpc.batchDeleteMemories(
      { parent: userName(user), filter, confirm: filter === "" },
      options,
    );
    return response.deletedCount;
  }

  /** Every recorded change of the memory `name`, oldest first. */
  revisions(name: string, options: CallOptions & { pageSize?: number } = {}): AsyncGenerator<MemoryRevision, void, undefined> {
    const { pageSize, ...call } = options;
    return pages(
      (pageToken) => this.rpc.listMemoryRevisions({ name, pageSize: pageSize ?? 0, pageToken }, call),
      (page) => page.revisions,
    );
  }

  /**
   * Wait for the background AddMemories call `name` ("users/{user}/operations/{id}", from
   * add with asyncMode) and resolve with its response. A FAILED operation rejects with its
   * error (errorDetails reads it as any other); `timeoutMs` (the client's by default)
   * bounds the whole wait, which then rejects with DEADLINE_EXCEEDED. The operation itself
   * is `client.rpc.getOperation({ name })`.
   */
  async waitOperation(name: string, options: WaitOptions = {}): Promise<AddMemoriesResponse> {
    const { pollMs = 200, timeoutMs = this.timeoutMs, signal } = options;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const remainingMs = Math.max(deadline - Date.now(), 1);
      const op = await this.rpc.getOperation({ name }, { timeoutMs: remainingMs, signal });
      if (op.done) {
        return operationResult(op);
      }
      const wait = Math.min(pollMs, deadline - Date.now());
      if (wait <= 0) {
        throw new ConnectError(`${name} is still ${Operation_State[op.state]}`, Code.DeadlineExceeded);
      }
      await sleep(wait, signal ?? new AbortController().signal);
      signal?.throwIfAborted();
    }
  }

  /** Every entity of `user`'s graph matching the options, by display name, page by page. */
  entities(user: string, options: EntitiesOptions = {}): AsyncGenerator<Entity, void, undefined> {
    const { timeoutMs, signal, ...fields } = options;
    const request = { parent: userName(user), filter: fields.filter ?? "", pageSize: fields.pageSize ?? 0 };
    return pages(
      (pageToken) => this.graph.listEntities({ ...request, pageToken }, { timeoutMs, signal }),
      (page) => page.entities,
    );
  }

  /** Every relation of `user`'s graph matching the options, newest first, page by page. */
  relations(user: string, options: RelationsOptions = {}): AsyncGenerator<Relation, void, undefined> {
    const { timeoutMs, signal, ...fields } = options;
    const request = {
      parent: userName(user),
      filter: fields.filter ?? "",
      pageSize: fields.pageSize ?? 0,
      showInvalid: fields.showInvalid ?? false,
    };
    return pages(
      (pageToken) => this.graph.listRelations({ ...request, pageToken }, { timeoutMs, signal }),
      (page) => page.relations,
    );
  }

  /** The entity "users/{user}/entities/{entity}" with its relations and neighbours. */
  entity(name: string, options: EntityOptions = {}): Promise<GetEntityResponse> {
    const { timeoutMs, signal, ...fields } = options;
    return this.graph.getEntity(
      {
        name,
        hops: fields.hops ?? 0,
        relationLimit: fields.relationLimit ?? 0,
        showInvalid: fields.showInvalid ?? false,
      },
      { timeoutMs, signal },
    );
  }

  /** How many graph updates of `user` still wait to be applied, and the last error. */
  graphStatus(user: string, options: CallOptions = {}): Promise<GraphStatus> {
    return this.graph.getGraphStatus({ name: `${userName(user)}/graphStatus` }, options);
  }

  /**
   * Every API key, oldest first, page by page (admin only). A key's secret is never listed:
   * only `admin.createApiKey`'s response carries it.
   */
  apiKeys(options: ApiKeysOptions = {}): AsyncGenerator<ApiKey, void, undefined> {
    const { timeoutMs, signal, ...fields } = options;
    const request = { pageSize: fields.pageSize ?? 0, showRevoked: fields.showRevoked ?? false };
    return pages(
      (pageToken) => this.admin.listApiKeys({ ...request, pageToken }, { timeoutMs, signal }),
      (page) => page.apiKeys,
    );
  }

  /** Every user that has memories, by user id, page by page (admin only). */
  users(options: UsersOptions = {}): AsyncGenerator<UserSummary, void, undefined> {
    const { timeoutMs, signal, ...fields } = options;
    const request = { prefix: fields.prefix ?? "", pageSize: fields.pageSize ?? 0 };
    return pages(
      (pageToken) => this.admin.listUsers({ ...request, pageToken }, { timeoutMs, signal }),
      (page) => page.users,
    );
  }

  /** `user`'s activity per day, oldest first, for the last `days` days (0: 30) ending today (UTC). */
  userUsage(user: string, options: CallOptions & { days?: number } = {}): Promise<UserUsage> {
    const { days, ...call } = options;
    return this.admin.getUserUsage({ name: `${userName(user)}/usage`, days: days ?? 0 }, call);
  }

  /**
   * Remove everything `user` stored (GDPR's right to erasure; admin only) and report what
   * went. Unlike deleteAll it keeps no revisions; it cannot be undone.
   */
  erase(user: string, options: CallOptions = {}): Promise<EraseUserResponse> {
    return this.admin.eraseUser({ name: userName(user) }, options);
  }

  /** The server's version, models, graph lag, database size and development mode (admin only). */
  serverStatus(options: CallOptions = {}): Promise<ServerStatus> {
    return this.admin.getServerStatus({}, options);
  }
}

/**
 * The outcome of a done operation: the AddMemoriesResponse of a SUCCEEDED one; a FAILED
 * one throws its error as a ConnectError.
 */
export function operationResult(op: Operation): AddMemoriesResponse {
  if (op.state === Operation_State.FAILED) {
    throw op.error ? errorFromStatus(op.error) : new ConnectError(`${op.name} failed`, Code.Unknown);
  }
  const response = op.response && anyUnpack(op.response, AddMemoriesResponseSchema);
  if (!response) {
    throw new ConnectError(`${op.name} has no AddMemoriesResponse`, Code.Internal);
  }
  return response;
}

/** Every item of every page of a list call, fetching pages as they are read. */
async function* pages<Page extends { nextPageToken: string }, T>(
  fetch: (pageToken: string) => Promise<Page>,
  items: (page: Page) => T[],
): AsyncGenerator<T, void, undefined> {
  let pageToken = "";
  do {
    const page = await fetch(pageToken);
    yield* items(page);
    pageToken = page.nextPageToken;
  } while (pageToken);
}

/** "users/{user}" for a bare user id; a name that already has the prefix is kept. */
export function userName(user: string): string {
  return user.startsWith("users/") ? user : `users/${user}`;
}

function stripScheme(target: string): string {
  const i = target.indexOf("://");
  return i >= 0 ? target.slice(i + 3) : target;
}

/** Whether `target` (host:port) names this machine. */
export function isLoopback(target: string): boolean {
  let host = stripScheme(target);
  if (host.startsWith("[")) {
    host = host.slice(1, host.indexOf("]"));
  } else if (!isIPv6(host)) {
    host = host.replace(/:\d+$/, "");
  }
  if (host === "localhost") {
    return true;
  }
  if (isIP(host) === 4) {
    return host.startsWith("127.");
  }
  return host === "::1";
}

function resolveTls(target: string, tls: boolean | TlsOptions | undefined): TlsOptions | undefined {
  if (tls === undefined) {
    return isLoopback(target) ? undefined : {};
  }
  if (tls === true) {
    return {};
  }
  return tls === false ? undefined : tls;
}

function authInterceptor(apiKey: string): Interceptor {
  return (next) => (req) => {
    req.header.set("authorization", `Bearer ${apiKey}`);
    return next(req);
  };
}

const requestIdInterceptor: Interceptor = (next) => (req) => {
  if (req.stream || !CREATING_METHODS.has(req.method.name)) {
    return next(req);
  }
  const message = req.message as { requestId?: unknown };
  if (typeof message.requestId !== "string" || message.requestId !== "") {
    return next(req);
  }
  const copy = clone(req.method.input, req.message) as typeof req.message & { requestId: string };
  copy.requestId = crypto.randomUUID();
  return next({ ...req, message: copy });
};

/**
 * Retries unary calls that fail with a retryable code. Streams are not retried here:
 * resuming one needs its cursor.
 */
function retryInterceptor(policy: RetryPolicy): Interceptor {
  return (next) => async (req) => {
    if (req.stream) {
      return next(req);
    }
    for (let attempt = 1; ; attempt++) {
      try {
        return await next(req);
      } catch (error) {
        const err = ConnectError.from(error);
        if (attempt >= policy.maxAttempts || !policy.retryableCodes.includes(err.code) || req.signal.aborted) {
          throw error;
        }
        await sleep(backoffMs(policy, attempt, errorDetails(err).retryDelayMs), req.signal);
        if (req.signal.aborted) {
          throw error;
        }
      }
    }
  };
}

/** The wait before retry number `retry` (1 for the first retry). */
function backoffMs(policy: RetryPolicy, retry: number, serverDelayMs = 0): number {
  const delay = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * policy.multiplier ** (retry - 1));
  return Math.max(delay * (0.5 + Math.random() / 2), serverDelayMs);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
