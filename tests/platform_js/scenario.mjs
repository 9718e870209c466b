// The mem0 Platform scenario, driven by mem0's own npm client (mem0ai, pinned by
// package-lock.json), under Node 20. Started by tests/clients/test_platform_js.py with the
// server's address and three API keys in the environment (MEM0_HOST, MEM0_ADMIN_KEY,
// MEM0_ALICE_KEY, MEM0_BOB_KEY); exits non-zero at the first step that differs.
import assert from "node:assert/strict";

import { AuthenticationError, MemoryClient, MemoryNotFoundError } from "mem0ai";

const HOST = process.env.MEM0_HOST;
const KEYS = {
  admin: process.env.MEM0_ADMIN_KEY,
  alice: process.env.MEM0_ALICE_KEY,
  bob: process.env.MEM0_BOB_KEY,
};

function step(name) {
  console.log(`- ${name}`);
}

async function rejects(kind, promise) {
  await assert.rejects(promise, (error) => error instanceof kind);
}

async function waitForEvent(key, eventId) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const reply = await fetch(`${HOST}/v1/event/${eventId}/`, {
      headers: { Authorization: `Token ${key}` },
    });
    assert.equal(reply.status, 200);
    const event = await reply.json();
    if (event.status === "SUCCEEDED" || event.status === "FAILED") return event;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`event ${eventId} did not finish`);
}

const alice = new MemoryClient({ apiKey: KEYS.alice, host: HOST });
const bob = new MemoryClient({ apiKey: KEYS.bob, host: HOST });
const admin = new MemoryClient({ apiKey: KEYS.admin, host: HOST });

step("ping");
await alice.ping();
await rejects(Error, new MemoryClient({ apiKey: "m0s_wrong_key", host: HOST }).ping());

step("add, sync and asyncMode");
const added = await alice.add([{ role: "user", content: "I love green tea in the morning" }], {
  userId: "alice",
  metadata: { topic: "drinks", cups: 3 },
});
assert.equal(added.results.length, 1);
assert.equal(added.results[0].event, "ADD");
const teaId = added.results[0].id;
await alice.add([{ role: "user", content: "I play chess on Sundays" }], {
  userId: "alice",
  agentId: "coach",
  runId: "session-1",
});
const queued = await alice.add([{ role: "user", content: "My sister is called Maria" }], {
  userId: "alice",
  asyncMode: true,
});
assert.equal(queued.status, "PENDING");
const finished = await waitForEvent(KEYS.alice, queued.eventId);
assert.equal(finished.status, "SUCCEEDED");

step("getAll: envelope, pages, filters");
const all = await alice.getAll({ filters: { user_id: "alice" } });
assert.equal(all.count, 3);
const first = await alice.getAll({ filters: { user_id: "alice" }, page: 1, pageSize: 2 });
assert.equal(first.results.length, 2);
assert.ok(first.next);
assert.equal(first.previous, null);
const second = await alice.getAll({ filters: { user_id: "alice" }, page: 2, pageSize: 2 });
assert.equal(second.results.length, 1);
assert.equal(second.next, null);
const drinks = await alice.getAll({
  filters: { AND: [{ user_id: "alice" }, { metadata: { topic: "drinks" } }] },
});
assert.deepEqual(
  drinks.results.map((m) => [m.id, m.metadata]),
  [[teaId, { topic: "drinks", cups: 3 }]],
);
const coach = await alice.getAll({ filters: { user_id: "alice", agent_id: "coach" } });
assert.equal(coach.results[0].sessionId, "session-1");

step("search");
const found = await alice.search("What does alice drink?", {
  filters: { user_id: "alice" },
  threshold: 0,
});
assert.equal(found.results[0].id, teaId);
for (const result of found.results) {
  assert.ok(result.score >= 0 && result.score <= 1);
  assert.ok("runId" in result);
}

step("get, update, history");
assert.equal((await alice.get(teaId)).memory, "I love green tea in the morning");
await alice.update(teaId, { text: "I love oolong tea in the morning" });
assert.equal((await alice.get(teaId)).memory, "I love oolong tea in the morning");
const history = await alice.history(teaId);
assert.deepEqual(
  history.map((h) => h.event),
  ["ADD", "UPDATE"],
);
assert.equal(history[1].oldMemory, "I love green tea in the morning");

step("two keys, two users");
await bob.add([{ role: "user", content: "I drive a blue van" }], { userId: "bob" });
await rejects(MemoryNotFoundError, bob.get(teaId));
await rejects(MemoryNotFoundError, bob.delete(teaId));
await rejects(AuthenticationError, bob.getAll({ filters: { user_id: "alice" } }));
await rejects(AuthenticationError, bob.search("tea", { filters: { user_id: "alice" } }));
await rejects(AuthenticationError, bob.deleteAll({ userId: "alice" }));
assert.deepEqual(
  (await bob.users()).results.map((e) => [e.type, e.name]),
  [["user", "bob"]],
);

step("agent-only scope");
await admin.add([{ role: "user", content: "Escalate refunds over 100 EUR" }], {
  agentId: "support-bot",
});
const rules = await admin.getAll({ filters: { agent_id: "support-bot" } });
assert.equal(rules.count, 1);
assert.equal(rules.results[0].userId, null);
await rejects(AuthenticationError, alice.getAll({ filters: { agent_id: "support-bot" } }));

step("batchUpdate, batchDelete, delete");
const byText = Object.fromEntries(
  (await alice.getAll({ filters: { user_id: "alice" } })).results.map((m) => [m.memory, m.id]),
);
const chessId = byText["I play chess on Sundays"];
const mariaId = byText["My sister is called Maria"];
await alice.batchUpdate([{ memoryId: chessId, text: "I play go on Sundays" }]);
assert.equal((await alice.get(chessId)).memory, "I play go on Sundays");
await alice.batchDelete([chessId]);
await rejects(MemoryNotFoundError, alice.get(chessId));
await alice.delete(mariaId);
await rejects(MemoryNotFoundError, alice.get(mariaId));

step("deleteAll, deleteUsers");
await alice.deleteAll({ userId: "alice" });
assert.equal((await alice.getAll({ filters: { user_id: "alice" } })).count, 0);
await bob.deleteUsers({ userId: "bob" });
assert.equal((await bob.getAll({ filters: { user_id: "bob" } })).count, 0);
await admin.deleteUsers();
assert.deepEqual((await admin.users()).results, []);

console.log("mem0 platform scenario (npm): OK");
