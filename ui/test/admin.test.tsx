import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { createRouterTransport } from "@connectrpc/connect";
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { ApiKey_Role, ApiKeySchema, UserUsageSchema } from "@client/gen/mem0stack/v1/admin_pb.js";
import { AdminService, type CreateApiKeyRequest } from "@client/gen/mem0stack/v1/admin_service_pb.js";
import { createClients } from "../src/api/clients";
import { ClientsContext } from "../src/api/context";
import { CreateKeyForm } from "../src/admin/CreateKeyForm";
import { KeyTable } from "../src/admin/KeyTable";
import { formatBytes } from "../src/admin/StatusSection";
import { totals, usageRows } from "../src/admin/usage";

describe("usage", () => {
  it("turns the days into chart rows and totals", () => {
    const usage = create(UserUsageSchema, {
      days: [
        { startTime: timestampFromDate(new Date("2026-12-02T00:00:00Z")), memoriesCreated: 2n, searches: 5n },
        { startTime: timestampFromDate(new Date("2026-12-03T00:00:00Z")), llmPromptTokens: 11n, llmCompletionTokens: 7n, llmCalls: 1n },
      ],
    });
    const rows = usageRows(usage);
    expect(rows.map((r) => r.day)).toEqual(["2026-12-02", "2026-12-03"]);
    expect(totals(rows)).toEqual({ memories: 2, searches: 5, promptTokens: 11, completionTokens: 7, llmCalls: 1 });
  });

  it("prints sizes in binary units", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(8 * 1024 * 1024 + 512 * 1024)).toBe("8.5 MiB");
  });
});

describe("keys", () => {
  it("creates a user key and shows its secret once", async () => {
    const sent: CreateApiKeyRequest[] = [];
    const transport = createRouterTransport(({ service }) => {
      service(AdminService, {
        createApiKey(request) {
          sent.push(request);
          return { apiKey: create(ApiKeySchema, { role: request.apiKey?.role, users: request.apiKey?.users, name: "apiKeys/k1" }), key: "m0s_k1_secret" };
        },
      });
    });
    const onCreated = vi.fn();
    render(
      <ClientsContext.Provider value={createClients("", "http://test", transport)}>
        <CreateKeyForm onCreated={onCreated} />
      </ClientsContext.Provider>,
    );
    await userEvent.type(screen.getByLabelText("Users (comma-separated)"), "alice, bob");
    await userEvent.type(screen.getByLabelText("Label"), "bot");
    await userEvent.click(screen.getByRole("button", { name: "Create key" }));
    expect((await screen.findByTestId("new-key-secret")).textContent).toBe("m0s_k1_secret");
    expect(sent[0]?.apiKey).toMatchObject({ role: ApiKey_Role.USER, users: ["alice", "bob"], label: "bot" });
    expect(onCreated).toHaveBeenCalled();
    await userEvent.click(screen.getByRole("button", { name: "I have copied it" }));
    expect(screen.queryByTestId("new-key-secret")).toBeNull();
  });

  it("revokes only after the confirmation, and never offers it for a revoked key", async () => {
    const keys = [
      create(ApiKeySchema, { name: "apiKeys/a1", role: ApiKey_Role.ADMIN, label: "ops" }),
      create(ApiKeySchema, {
        name: "apiKeys/u1",
        role: ApiKey_Role.USER,
        users: ["alice"],
        revokeTime: timestampFromDate(new Date()),
      }),
    ];
    const onRevoke = vi.fn(async () => {});
    render(<KeyTable keys={keys} onRevoke={onRevoke} />);
    expect(screen.getAllByRole("button", { name: /^Revoke/ })).toHaveLength(1);
    await userEvent.click(screen.getByRole("button", { name: "Revoke a1 (ops)" }));
    expect(onRevoke).not.toHaveBeenCalled();
    await userEvent.click(screen.getByRole("button", { name: "Revoke key" }));
    await waitFor(() => expect(onRevoke).toHaveBeenCalledWith("apiKeys/a1"));
  });
});
