// GraphService and GetOperation against a live server (`make test-clients-ts`), which has no
// Neo4j: every graph call must reach it and come back FAILED_PRECONDITION GRAPH_DISABLED.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { create } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";

import { ErrorInfoSchema } from "../src/gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../src/gen/google/rpc/status_pb.js";
import {
  Code,
  ErrorReason,
  OperationSchema,
  Operation_State,
  errorDetails,
  isReason,
  operationResult,
} from "../src/index.js";
import { client, collect, live, newUser, rejection } from "./live.js";

const ENTITY = "00000000-0000-0000-0000-000000000001";

describe("operations and the graph against a live server", live, () => {
  it("adds in async mode, reads the operation and waits for it", async () => {
    const user = newUser();
    const accepted = await client.add(user, "I take my tea without sugar", { asyncMode: true, infer: false });
    assert.ok(accepted.operation.startsWith(`users/${user}/operations/`));
    assert.deepEqual(accepted.events, []);
    const read = await client.rpc.getOperation({ name: accepted.operation });
    assert.equal(read.name, accepted.operation);
    assert.notEqual(read.state, Operation_State.FAILED);

    const response = await client.waitOperation(accepted.operation, { pollMs: 50 });
    assert.deepEqual(
      response.events.map((e) => e.memory?.content),
      ["I take my tea without sugar"],
    );
    const done = await client.rpc.getOperation({ name: accepted.operation });
    assert.equal(done.state, Operation_State.SUCCEEDED);
    assert.ok(done.done && done.endTime);

    const missing = `users/${user}/operations/00000000-0000-0000-0000-000000000000`;
    assert.ok(isReason(await rejection(client.rpc.getOperation({ name: missing })), ErrorReason.OPERATION_NOT_FOUND));
    assert.ok(isReason(await rejection(client.waitOperation(missing)), ErrorReason.OPERATION_NOT_FOUND));
  });

  it("reaches the server with every graph call", async () => {
    const user = newUser();
    const parent = `users/${user}`;
    const entity = `${parent}/entities/${ENTITY}`;
    const calls: Record<string, () => Promise<unknown>> = {
      listEntities: () => client.graph.listEntities({ parent }),
      getEntity: () => client.graph.getEntity({ name: entity }),
      deleteEntity: () => client.graph.deleteEntity({ name: entity }),
      listRelations: () => client.graph.listRelations({ parent }),
      getGraphStatus: () => client.graph.getGraphStatus({ name: `${parent}/graphStatus` }),
      entities: () => collect(client.entities(user, { filter: 'entity_type = "person"' })),
      relations: () => collect(client.relations(user, { showInvalid: true })),
      entity: () => client.entity(entity, { hops: 2 }),
      graphStatus: () => client.graphStatus(user),
    };
    for (const [name, call] of Object.entries(calls)) {
      const details = errorDetails(await rejection(call()));
      assert.equal(details.code, Code.FailedPrecondition, name);
      assert.equal(details.reason, ErrorReason.GRAPH_DISABLED, name);
    }
  });
});

describe("operations without a server", () => {
  it("turns a failed operation into its error", () => {
    const op = create(OperationSchema, {
      name: "users/u/operations/o",
      state: Operation_State.FAILED,
      done: true,
      error: create(StatusSchema, {
        code: Code.Internal,
        message: "the LLM said nonsense",
        details: [anyPack(ErrorInfoSchema, create(ErrorInfoSchema, { reason: "LLM_OUTPUT_INVALID", domain: "mem0stack.dev" }))],
      }),
    });
    let thrown: unknown;
    try {
      operationResult(op);
    } catch (error) {
      thrown = error;
    }
    const details = errorDetails(thrown);
    assert.equal(details.code, Code.Internal);
    assert.equal(details.reason, ErrorReason.LLM_OUTPUT_INVALID);
    assert.equal(details.message, "the LLM said nonsense");
  });
});
