import { isIP, isIPv6 } from "node:net";
import type { SecureClientSessionOptions } from "node:http2";

import { clone, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";

import { errorDetails } from "./errors.js";
import type {
  AddMemoriesResponse,
  SearchMemoriesRequest_Mode,
} from "./gen/mem0stack/v1/memory_service_pb.js";
import { MemoryService } from "./gen/mem0stack/v1/memory_service_pb.js";
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

// Creating calls get a request_id when the caller sent none, so that a retry after
// UNAVAILABLE cannot store the same memory twice (the server replays the first response).
const CREATING_METHODS = new Set(["CreateMemory", "BatchCreateMemories", "AddMemories"]);

/**
 * A connection to a mem0-stack server.
 *
 * `client.rpc` is the generated Connect client of MemoryService (every RPC, taking the
 * generated request shapes) with this client's deadline, API key and retries applied; the
 * methods here (create, add, search, list, ...) build the requests for the common calls.
 * Failed calls reject with a ConnectError; read its reason with errorDetails/reasonOf.
 */
export class Mem0StackClient {
  readonly target: string;
  readonly rpc: Client<typeof MemoryService>;

  constructor(target: string = DEFAULT_TARGET, options: ClientOptions = {}) {
    this.target = target;
    const retry: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    const tls = resolveTls(target, options.tls);
    const interceptors: Interceptor[] = [retryInterceptor(retry), requestIdInterceptor];
    if (options.apiKey) {
      interceptors.push(authInterceptor(options.apiKey));
    }
    interceptors.push(...(options.interceptors ?? []));
    const transport = createGrpcTransport({
      baseUrl: `${tls ? "https" : "http"}://${stripScheme(target)}`,
      defaultTimeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      interceptors,
      ...(tls ? { nodeOptions: tls } : {}),
    });
    this.rpc = createClient(MemoryService, transport);
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
  async *list(user: string, options: ListOptions = {}): AsyncGenerator<Memory, void, undefined> {
    const { timeoutMs, signal, ...fields } = options;
    let pageToken = "";
    do {
      const page = await this.rpc.listMemories(
        {
          parent: userName(user),
          filter: fields.filter ?? "",
          orderBy: fields.orderBy ?? "",
          pageSize: fields.pageSize ?? 0,
          showExpired: fields.showExpired ?? false,
          pageToken,
        },
        { timeoutMs, signal },
      );
      yield* page.memories;
      pageToken = page.nextPageToken;
    } while (pageToken);
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
  async *revisions(name: string, options: CallOptions & { pageSize?: number } = {}): AsyncGenerator<MemoryRevision, void, undefined> {
    const { pageSize, ...call } = options;
    let pageToken = "";
    do {
      const page = await this.rpc.listMemoryRevisions({ name, pageSize: pageSize ?? 0, pageToken }, call);
      yield* page.revisions;
      pageToken = page.nextPageToken;
    } while (pageToken);
  }
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
