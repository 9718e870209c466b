// These tests run against a live server: `make test-clients-ts` starts one on the
// embedded default and sets MEM0STACK_TEST_TARGET (test/live.ts). Each test uses a user of
// its own.
import assert from "node:assert/strict";
import { createServer, type AddressInfo, type Socket } from "node:net";
import { describe, it, after } from "node:test";

import type { Interceptor } from "@connectrpc/connect";

import {
  Code,
  ErrorReason,
  Mem0StackClient,
  MemoryChange_Type,
  MemoryEvent_Type,
  MemoryRevision_Event,
  Memory_State,
  errorDetails,
  isLoopback,
  isReason,
} from "../src/index.js";
import { client, collect, live, newUser, rejection } from "./live.js";

describe("against a live server", live, () => {
  it("creates, gets and reports errors by reason", async () => {
    const user = newUser();
    const m = await client.create(user, { content: "Prefers window seats", metadata: { topic: "travel" } });
    assert.equal(m.name, `users/${user}/memories/${m.uid}`);
    assert.equal(m.state, Memory_State.ACTIVE);
    const got = await client.get(m.name);
    assert.equal(got.content, "Prefers window seats");
    assert.deepEqual(got.metadata, { topic: "travel" });

    const missing = await rejection(client.get(`users/${user}/memories/00000000-0000-0000-0000-000000000000`));
    assert.ok(isReason(missing, ErrorReason.MEMORY_NOT_FOUND));
    const details = errorDetails(missing);
    assert.equal(details.code, Code.NotFound);
    assert.equal(details.reasonName, "MEMORY_NOT_FOUND");
    assert.equal(details.domain, "mem0stack.dev");
    assert.ok(details.metadata.name);

    const empty = errorDetails(await rejection(client.create(user, { content: "" })));
    assert.equal(empty.code, Code.InvalidArgument);
    assert.ok(empty.fieldViolations.length > 0);
  });

  it("lists across pages, newest first", async () => {
    const user = newUser();
    const texts = ["one", "two", "three", "four", "five"].map((t) => `memory ${t}`);
    for (const content of texts) await client.create(user, { content });
    const listed = await collect(client.list(user, { pageSize: 2 }));
    assert.deepEqual(listed.map((m) => m.content), [...texts].reverse());

    const bad = await rejection(collect(client.list(user, { filter: "colour = 1" })));
    assert.equal(errorDetails(bad).reason, ErrorReason.UNKNOWN_FILTER_FIELD);
  });

  it("searches, best first", async () => {
    const user = newUser();
    for (const content of ["My favourite food is ramen", "I am allergic to peanuts", "I work as a nurse in Lyon"]) {
      await client.create(user, { content });
    }
    const results = await client.search(user, "what food do I like to eat?", { topK: 2 });
    assert.equal(results.length, 2);
    assert.equal(results[0]?.memory?.content, "My favourite food is ramen");
    assert.ok((results[0]?.score ?? 0) >= (results[1]?.score ?? 0));
  });

  it("updates with a mask, keeps revisions, deletes", async () => {
    const user = newUser();
    const m = await client.create(user, { content: "I like window seats", metadata: { topic: "travel" } });
    const updated = await client.update(
      { name: m.name, content: "I like aisle seats", metadata: { topic: "ignored" } },
      ["content"],
    );
    assert.equal(updated.content, "I like aisle seats");
    assert.deepEqual(updated.metadata, { topic: "travel" });
    assert.notEqual(updated.etag, m.etag);

    const stale = await rejection(client.update({ name: m.name, content: "x", etag: m.etag }, ["content"]));
    assert.ok(isReason(stale, ErrorReason.ETAG_MISMATCH));

    await client.delete(m.name);
    assert.ok(isReason(await rejection(client.get(m.name)), ErrorReason.MEMORY_NOT_FOUND));

    const revisions = await collect(client.revisions(m.name));
    assert.deepEqual(
      revisions.map((r) => r.event),
      [MemoryRevision_Event.CREATE, MemoryRevision_Event.UPDATE, MemoryRevision_Event.DELETE],
    );
    assert.equal(revisions[1]?.contentBefore, "I like window seats");
    assert.equal(revisions[1]?.contentAfter, "I like aisle seats");
    // The client gave the creating call a request id of its own (safe retries).
    assert.ok(revisions[0]?.requestId);
  });

  it("adds a conversation and deletes everything", async () => {
    const user = newUser();
    const response = await client.add(
      user,
      [
        { role: "user", content: "I moved to Berlin last year" },
        { role: "assistant", content: "Nice, how do you like it?" },
      ],
      { agentId: "travel" },
    );
    assert.equal(response.events.length, 1);
    assert.equal(response.events[0]?.type, MemoryEvent_Type.ADD);
    assert.equal(response.events[0]?.memory?.agentId, "travel");
    await client.create(user, { content: "Another memory" });
    assert.equal(await client.deleteAll(user), 2n);
    assert.deepEqual(await collect(client.list(user)), []);
  });

  it("watches changes and exports through the streaming RPCs", async () => {
    const user = newUser();
    const abort = new AbortController();
    const watch = client.rpc.watchMemories({ parent: `users/${user}` }, { signal: abort.signal });
    const iterator = watch[Symbol.asyncIterator]();
    const first = iterator.next();
    // Give the server a moment to fix the watch's start position before writing.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const created = await client.create(user, { content: "streamed fact" });
    let message = (await first).value;
    while (message?.checkpoint) message = (await iterator.next()).value;
    abort.abort();
    assert.equal(message?.change?.type, MemoryChange_Type.CREATED);
    assert.equal(message?.change?.memory?.name, created.name);

    const exported = await collect(client.rpc.exportMemories({ parent: `users/${user}` }));
    assert.deepEqual(
      exported.map((m) => m.memory?.content),
      ["streamed fact"],
    );
    assert.ok(exported[0]?.cursor);
  });
});

describe("without a server", () => {
  it("retries UNAVAILABLE with backoff, then gives up", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));

    let attempts = 0;
    const count: Interceptor = (next) => (req) => {
      attempts++;
      return next(req);
    };
    const dead = new Mem0StackClient(`127.0.0.1:${port}`, {
      retry: { maxAttempts: 3, initialBackoffMs: 20 },
      interceptors: [count],
    });
    const error = await rejection(dead.get("users/x/memories/y"));
    assert.equal(errorDetails(error).code, Code.Unavailable);
    assert.equal(attempts, 3);
  });

  it("applies the default deadline", async () => {
    // A listener that accepts but never speaks HTTP/2: only the deadline ends the call.
    const sockets: Socket[] = [];
    const server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    after(() => {
      sockets.forEach((s) => s.destroy());
      server.close();
    });
    const { port } = server.address() as AddressInfo;
    const silent = new Mem0StackClient(`127.0.0.1:${port}`, { timeoutMs: 300 });
    const started = Date.now();
    const error = await rejection(silent.get("users/x/memories/y"));
    assert.equal(errorDetails(error).code, Code.DeadlineExceeded);
    assert.ok(Date.now() - started < 5_000);
  });

  it("knows loopback targets", () => {
    assert.ok(isLoopback("localhost:50051"));
    assert.ok(isLoopback("127.0.0.1:1"));
    assert.ok(isLoopback("[::1]:50051"));
    assert.ok(!isLoopback("memory.example.com:443"));
  });
});
