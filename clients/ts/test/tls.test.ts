// `make test-clients-ts` also starts a server that requires client certificates, from a CA
// made for the run (tests/support/run_server_for.py --tls), and names its files here.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";

import { Code, Mem0StackClient, errorDetails, type TlsOptions } from "../src/index.js";
import { newUser, rejection } from "./live.js";

const target = process.env.MEM0STACK_TEST_TLS_TARGET;
const skip = target ? false : "MEM0STACK_TEST_TLS_TARGET is not set; run `make test-clients-ts`";
const file = (name: string) => readFileSync(process.env[name] ?? "");

describe("against a server with mutual TLS", { skip }, () => {
  it("connects with the private CA and a client certificate", async () => {
    const tls: TlsOptions = {
      ca: file("MEM0STACK_TEST_CA_FILE"),
      cert: file("MEM0STACK_TEST_CLIENT_CERT"),
      key: file("MEM0STACK_TEST_CLIENT_KEY"),
    };
    const client = new Mem0StackClient(target ?? "", { tls });
    const user = newUser();
    const m = await client.create(user, { content: "Reached over mutual TLS" });
    assert.equal((await client.get(m.name)).content, "Reached over mutual TLS");
  });

  it("is refused without a client certificate", async () => {
    const tls: TlsOptions = { ca: file("MEM0STACK_TEST_CA_FILE") };
    const client = new Mem0StackClient(target ?? "", { tls, timeoutMs: 5000, retry: { maxAttempts: 1 } });
    const error = await rejection(client.create(newUser(), { content: "never stored" }));
    // Under TLS 1.3 the server checks the client certificate after Node's side of the
    // handshake is done, so a missing one shows as the stream being cancelled.
    assert.ok([Code.Unavailable, Code.Canceled].includes(errorDetails(error).code), String(error));
  });

  it("does not trust the server without its CA", async () => {
    const tls: TlsOptions = { cert: file("MEM0STACK_TEST_CLIENT_CERT"), key: file("MEM0STACK_TEST_CLIENT_KEY") };
    const client = new Mem0StackClient(target ?? "", { tls, timeoutMs: 5000, retry: { maxAttempts: 1 } });
    const error = await rejection(client.create(newUser(), { content: "never stored" }));
    // Node's TLS error, which Connect reports as INTERNAL.
    assert.match(String(error), /unable to verify the first certificate/);
  });
});
