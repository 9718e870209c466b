import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { MemorySchema } from "@client/gen/mem0stack/v1/memory_pb.js";
import { exportLine, parseImportFile } from "../src/transfer/records";
import { statusError } from "../src/transfer/restImport";
import { describeError } from "../src/api/errors";

describe("export and import files", () => {
  const memory = create(MemorySchema, {
    name: "users/alice/memories/m1",
    uid: "m1",
    content: "Lives in Lisbon",
    categories: ["home"],
    metadata: { source: "chat", n: 7 },
    createTime: timestampFromDate(new Date("2025-01-02T03:04:05Z")),
  });

  it("writes the CLI's format: proto field names, plain metadata", () => {
    const record = JSON.parse(exportLine(memory, [0.123456789, -1])) as Record<string, unknown>;
    expect(record).toMatchObject({
      name: "users/alice/memories/m1",
      content: "Lives in Lisbon",
      metadata: { source: "chat", n: 7 },
      create_time: "2025-01-02T03:04:05Z",
      embedding: [0.1234568, -1],
    });
  });

  it("reads an export back as import requests keyed by the memory's uid", () => {
    const { items, problems } = parseImportFile(`${exportLine(memory, [0.5])}\n\n`);
    expect(problems).toEqual([]);
    expect(items).toHaveLength(1);
    expect(items[0]?.source_id).toBe("m1");
    expect(items[0]?.embedding).toEqual([0.5]);
    expect(items[0]?.memory).toMatchObject({ content: "Lives in Lisbon", categories: ["home"] });
    // The importing user's server names it anew.
    expect(items[0]?.memory.name).toBeUndefined();
  });

  it("reads mem0's export records", () => {
    const { items } = parseImportFile(
      JSON.stringify({ id: "abc", memory: "Likes tea", agent_id: "bot", metadata: { a: 1 } }),
    );
    expect(items[0]).toMatchObject({
      source_id: "abc",
      memory: { content: "Likes tea", agent_id: "bot", metadata: { a: 1 } },
    });
  });

  it("names the lines it cannot read", () => {
    const { items, problems } = parseImportFile('{"content": "ok"}\nnot json\n{"content": ""}\n[1]\n{"content": 5}');
    expect(items).toHaveLength(1);
    expect(problems.map((p) => p.split(":")[0])).toEqual(["line 2", "line 3", "line 4", "line 5"]);
    expect(problems[1]).toContain("no memory text");
  });
});

describe("REST errors", () => {
  it("reads the google.rpc.Status JSON the gateway sends into code, reason and message", () => {
    const body = JSON.stringify({
      code: 7,
      message: "users/bob is not yours",
      details: [
        { "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "PERMISSION_DENIED", domain: "mem0stack.dev" },
      ],
    });
    expect(describeError(statusError(403, body))).toMatchObject({
      code: "PermissionDenied",
      reason: "PERMISSION_DENIED",
      message: "users/bob is not yours",
    });
    expect(describeError(statusError(502, "<html>bad gateway</html>")).message).toContain("HTTP 502");
  });
});
