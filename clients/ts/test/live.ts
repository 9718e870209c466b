// What the live tests share: `make test-clients-ts` starts a server on the embedded default
// and sets MEM0STACK_TEST_TARGET; without it they skip. Each test uses a user of its own.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";

import { Mem0StackClient } from "../src/index.js";

const target = process.env.MEM0STACK_TEST_TARGET;
export const live = { skip: target ? false : "MEM0STACK_TEST_TARGET is not set; run `make test-clients-ts`" };
export const client = new Mem0StackClient(target ?? "localhost:1");
export const newUser = () => `ts-${randomBytes(6).toString("hex")}`;

/** The error `promise` rejects with; fails the test when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail("the call succeeded");
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}
