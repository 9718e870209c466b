// Every RPC of every service in mem0stack.v1 is a method of Mem0StackClient. The services are
// the descriptors protoc-gen-es generates (every src/gen/mem0stack/v1/*_pb module), so an RPC
// or a service added to the proto fails this test until the client has it. The rule: the
// RPCs of a service are the methods (lowerCamelCase names) of the generated Connect client
// in the property SERVICES names: MemoryService is `client.rpc`, GraphService `client.graph`,
// WebhookService `client.webhooks`, AdminService `client.admin`.
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { describe, it } from "node:test";

import type { DescService } from "@bufbuild/protobuf";

import { Mem0StackClient } from "../src/index.js";

const SERVICES: Record<string, string> = {
  "mem0stack.v1.MemoryService": "rpc",
  "mem0stack.v1.GraphService": "graph",
  "mem0stack.v1.WebhookService": "webhooks",
  "mem0stack.v1.AdminService": "admin",
};

const GENERATED = new URL("../src/gen/mem0stack/v1/", import.meta.url);

async function services(): Promise<DescService[]> {
  const found: DescService[] = [];
  for (const file of (await readdir(GENERATED)).filter((f) => f.endsWith("_pb.js")).sort()) {
    const module = (await import(new URL(file, GENERATED).href)) as Record<string, unknown>;
    for (const value of Object.values(module)) {
      if ((value as { kind?: unknown } | null)?.kind === "service") found.push(value as DescService);
    }
  }
  return found;
}

/** What `client` lacks for each RPC, as readable lines. */
async function problems(client: object): Promise<string[]> {
  const found: string[] = [];
  for (const service of await services()) {
    const property = SERVICES[service.typeName];
    const stub = property === undefined ? undefined : (client as Record<string, unknown>)[property];
    for (const method of service.methods) {
      const where = `${property ?? "?"}.${method.localName} for ${service.typeName}.${method.name}`;
      const call = (stub as Record<string, unknown> | undefined)?.[method.localName];
      if (typeof call !== "function") found.push(`${where}: missing`);
    }
  }
  return found;
}

describe("coverage of the proto", () => {
  it("finds the services the client knows", async () => {
    const names = (await services()).flatMap((s) => [s.typeName, ...s.methods.map((m) => m.name)]);
    for (const want of [
      "mem0stack.v1.MemoryService",
      "mem0stack.v1.GraphService",
      "mem0stack.v1.AdminService",
      "GetOperation",
      "ListEntities",
      "CreateApiKey",
    ]) {
      assert.ok(names.includes(want), `${want} not among ${names.join(", ")}`);
    }
  });

  it("has a client method for every RPC", async () => {
    assert.deepEqual(await problems(new Mem0StackClient("localhost:1")), []);
  });

  it("reports a missing method", async () => {
    const { rpc } = new Mem0StackClient("localhost:1");
    const { getOperation, ...rest } = rpc;
    assert.equal(typeof getOperation, "function");
    assert.deepEqual((await problems({ rpc: rest })).sort(), [
      "admin.createApiKey for mem0stack.v1.AdminService.CreateApiKey: missing",
      "admin.eraseUser for mem0stack.v1.AdminService.EraseUser: missing",
      "admin.getApiKey for mem0stack.v1.AdminService.GetApiKey: missing",
      "admin.getServerStatus for mem0stack.v1.AdminService.GetServerStatus: missing",
      "admin.getUserUsage for mem0stack.v1.AdminService.GetUserUsage: missing",
      "admin.listApiKeys for mem0stack.v1.AdminService.ListApiKeys: missing",
      "admin.listUsers for mem0stack.v1.AdminService.ListUsers: missing",
      "admin.revokeApiKey for mem0stack.v1.AdminService.RevokeApiKey: missing",
      "graph.deleteEntity for mem0stack.v1.GraphService.DeleteEntity: missing",
      "graph.getEntity for mem0stack.v1.GraphService.GetEntity: missing",
      "graph.getGraphStatus for mem0stack.v1.GraphService.GetGraphStatus: missing",
      "graph.listEntities for mem0stack.v1.GraphService.ListEntities: missing",
      "graph.listRelations for mem0stack.v1.GraphService.ListRelations: missing",
      "rpc.getOperation for mem0stack.v1.MemoryService.GetOperation: missing",
      "webhooks.createWebhook for mem0stack.v1.WebhookService.CreateWebhook: missing",
      "webhooks.deleteWebhook for mem0stack.v1.WebhookService.DeleteWebhook: missing",
      "webhooks.getWebhook for mem0stack.v1.WebhookService.GetWebhook: missing",
      "webhooks.listWebhookDeliveries for mem0stack.v1.WebhookService.ListWebhookDeliveries: missing",
      "webhooks.listWebhooks for mem0stack.v1.WebhookService.ListWebhooks: missing",
      "webhooks.updateWebhook for mem0stack.v1.WebhookService.UpdateWebhook: missing",
    ]);
  });
});
