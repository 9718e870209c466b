// AdminService against a server that requires keys: `make test-clients-ts` starts one with an
// admin key (MEM0STACK_TEST_ADMIN_TARGET, MEM0STACK_TEST_ADMIN_KEY). Not the development-mode
// server of the other tests: the first key created there would end development mode and
// lock them out.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { ApiKey_Role, Code, ErrorReason, Mem0StackClient, errorDetails, isReason } from "../src/index.js";
import { collect, newUser, rejection } from "./live.js";

const target = process.env.MEM0STACK_TEST_ADMIN_TARGET;
const key = process.env.MEM0STACK_TEST_ADMIN_KEY;
const live = { skip: target && key ? false : "MEM0STACK_TEST_ADMIN_TARGET is not set; run `make test-clients-ts`" };
const client = new Mem0StackClient(target ?? "localhost:1", { apiKey: key ?? "" });

describe("AdminService against a server that requires keys", live, () => {
  it("creates, gets, lists and revokes a key, and reads the server status", async () => {
    const user = newUser();
    const made = await client.admin.createApiKey({
      apiKey: { role: ApiKey_Role.USER, users: [user], label: "ts client test" },
    });
    const name = made.apiKey?.name ?? "";
    assert.ok(made.key.startsWith("m0s_"));
    assert.equal(name, `apiKeys/${made.key.split("_")[1]}`);
    const got = await client.admin.getApiKey({ name });
    assert.equal(got.role, ApiKey_Role.USER);
    assert.deepEqual(got.users, [user]);
    assert.equal(got.label, "ts client test");

    // Pages of one, so the iterator has to follow nextPageToken.
    const listed = (await collect(client.apiKeys({ pageSize: 1 }))).map((k) => k.name);
    assert.ok(listed.length >= 2 && listed.includes(name), `listed ${listed.join(", ")}`);

    // The new key is a user key: the AdminService refuses it.
    const asUser = new Mem0StackClient(target ?? "", { apiKey: made.key });
    assert.ok(isReason(await rejection(asUser.serverStatus()), ErrorReason.PERMISSION_DENIED));

    const revoked = await client.admin.revokeApiKey({ name });
    assert.ok(revoked.revokeTime);
    const again = errorDetails(await rejection(client.admin.revokeApiKey({ name })));
    assert.equal(again.code, Code.FailedPrecondition);
    assert.equal(again.reason, ErrorReason.API_KEY_REVOKED);
    assert.ok(!(await collect(client.apiKeys())).some((k) => k.name === name));
    assert.ok((await collect(client.apiKeys({ showRevoked: true }))).some((k) => k.name === name));

    const status = await client.serverStatus();
    assert.ok(status.version);
    assert.ok(status.embeddingDimension > 0);
    assert.equal(status.developmentMode, false);
    assert.ok(status.startTime);
  });

  it("lists users, reads their usage and erases one", async () => {
    const user = newUser();
    for (const content of ["Prefers window seats", "Allergic to peanuts"]) await client.create(user, { content });

    const users = await collect(client.users({ prefix: user }));
    assert.deepEqual(users.map((u) => [u.name, u.activeMemories]), [[`users/${user}`, 2n]]);

    const usage = await client.userUsage(user, { days: 3 });
    assert.equal(usage.name, `users/${user}/usage`);
    assert.equal(usage.days.length, 3);
    assert.equal(usage.days.reduce((sum, day) => sum + day.memoriesCreated, 0n), 2n);

    const erased = await client.erase(user);
    assert.equal(erased.memories, 2n);
    assert.deepEqual(await collect(client.users({ prefix: user })), []);
  });
});
