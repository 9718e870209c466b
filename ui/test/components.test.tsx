import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createRouterTransport } from "@connectrpc/connect";
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { ErrorInfoSchema } from "@client/gen/google/rpc/error_details_pb.js";
import { MemorySchema } from "@client/gen/mem0stack/v1/memory_pb.js";
import {
  MemoryService,
  type UpdateMemoryRequest,
} from "@client/gen/mem0stack/v1/memory_service_pb.js";
import { bearer, createClients } from "../src/api/clients";
import { ClientsContext } from "../src/api/context";
import { ConfirmDialog } from "../src/components/ConfirmDialog";
import { ErrorMessage } from "../src/components/ErrorMessage";
import { SignIn } from "../src/components/SignIn";
import { EditMemory } from "../src/memory/EditMemory";
import { MemoryTable } from "../src/memories/MemoryTable";

const denied = () =>
  new ConnectError("users/bob is not yours", Code.PermissionDenied, undefined, [
    { desc: ErrorInfoSchema, value: { reason: "PERMISSION_DENIED", domain: "mem0stack.dev" } },
  ]);

describe("ErrorMessage", () => {
  it("shows the ErrorInfo reason, the message and the code", () => {
    render(<ErrorMessage error={denied()} />);
    const alert = screen.getByRole("alert");
    expect(alert.textContent).toContain("PERMISSION_DENIED");
    expect(alert.textContent).toContain("users/bob is not yours");
    expect(alert.textContent).toContain("PermissionDenied");
  });

  it("shows the code when there is no ErrorInfo, and plain errors too", () => {
    render(<ErrorMessage error={new ConnectError("down", Code.Unavailable)} />);
    expect(screen.getByRole("alert").textContent).toContain("Unavailable");
    render(<ErrorMessage error={new TypeError("boom")} title="Broken" />);
    expect(screen.getByText("boom")).toBeTruthy();
  });
});

describe("SignIn", () => {
  // The API, in memory: it knows one key and refuses others as the server does; the
  // clients reach it through the same bearer interceptor as the real transport.
  const makeClients = (key: string) =>
    createClients(
      key,
      "http://test",
      createRouterTransport(
        ({ service }) => {
          service(MemoryService, {
            listMemories(request, context) {
              if (context.requestHeader.get("authorization") !== "Bearer m0s_good") {
                throw new ConnectError("unknown API key", Code.Unauthenticated, undefined, [
                  { desc: ErrorInfoSchema, value: { reason: "API_KEY_INVALID" } },
                ]);
              }
              if (request.parent !== "users/alice") throw denied();
              return { memories: [] };
            },
          });
        },
        { transport: { interceptors: [bearer(key)] } },
      ),
    );

  it("keeps the session when the key works", async () => {
    const onSignIn = vi.fn();
    render(<SignIn onSignIn={onSignIn} makeClients={makeClients} />);
    await userEvent.type(screen.getByLabelText("API key"), "m0s_good");
    await userEvent.type(screen.getByLabelText("User to open"), "alice");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    await waitFor(() => expect(onSignIn).toHaveBeenCalledWith({ apiKey: "m0s_good", user: "alice" }));
  });

  it("shows why a key is refused and keeps nothing", async () => {
    const onSignIn = vi.fn();
    render(<SignIn onSignIn={onSignIn} makeClients={makeClients} />);
    await userEvent.type(screen.getByLabelText("API key"), "m0s_bad");
    await userEvent.type(screen.getByLabelText("User to open"), "alice");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect((await screen.findByRole("alert")).textContent).toContain("API_KEY_INVALID");
    expect(onSignIn).not.toHaveBeenCalled();
  });
});

describe("MemoryTable", () => {
  const rows = [
    { memory: create(MemorySchema, { name: "users/a/memories/1", content: "one", categories: ["x"] }), score: 0.8123 },
    { memory: create(MemorySchema, { name: "users/a/memories/2", content: "two" }), score: 0.5 },
  ];

  it("links each memory, shows scores and selects by keyboard", async () => {
    const onToggle = vi.fn();
    render(
      <MemoryTable rows={rows} selected={new Set()} onToggle={onToggle} onToggleAll={() => {}} showScore />,
    );
    expect(screen.getByRole("link", { name: "one" }).getAttribute("href")).toBe("#/users/a/memories/1");
    expect(screen.getByText("0.812")).toBeTruthy();
    screen.getByRole("checkbox", { name: 'Select "two"' }).focus();
    await userEvent.keyboard(" ");
    expect(onToggle).toHaveBeenCalledWith("users/a/memories/2");
  });

  it("says when there is nothing", () => {
    render(<MemoryTable rows={[]} selected={new Set()} onToggle={() => {}} onToggleAll={() => {}} showScore={false} />);
    expect(screen.getByText("No memories.")).toBeTruthy();
  });
});

describe("EditMemory", () => {
  it("sends only the changed fields in the update mask, with the etag", async () => {
    const sent: UpdateMemoryRequest[] = [];
    const transport = createRouterTransport(({ service }) => {
      service(MemoryService, {
        updateMemory(request) {
          sent.push(request);
          return create(MemorySchema, { name: request.memory?.name, content: request.memory?.content });
        },
      });
    });
    const memory = create(MemorySchema, {
      name: "users/a/memories/1",
      content: "Lives in Lisbon",
      categories: ["home"],
      metadata: { source: "chat" },
      etag: "e1",
    });
    const onSaved = vi.fn();
    render(
      <ClientsContext.Provider value={createClients("", "http://test", transport)}>
        <EditMemory memory={memory} onSaved={onSaved} onCancel={() => {}} />
      </ClientsContext.Provider>,
    );
    await userEvent.clear(screen.getByLabelText("Content"));
    await userEvent.type(screen.getByLabelText("Content"), "Lives in Porto");
    await userEvent.click(screen.getByRole("button", { name: "Save" }));
    await waitFor(() => expect(onSaved).toHaveBeenCalled());
    expect(sent[0]?.updateMask?.paths).toEqual(["content"]);
    expect(sent[0]?.memory?.etag).toBe("e1");
  });

  it("refuses metadata that is not a JSON object before calling", async () => {
    const memory = create(MemorySchema, { name: "users/a/memories/1", content: "x" });
    render(
      <ClientsContext.Provider value={createClients("", "http://test", createRouterTransport(() => {}))}>
        <EditMemory memory={memory} onSaved={() => {}} onCancel={() => {}} />
      </ClientsContext.Provider>,
    );
    await userEvent.clear(screen.getByLabelText("Metadata (JSON object)"));
    await userEvent.type(screen.getByLabelText("Metadata (JSON object)"), "[[1]");
    await userEvent.click(screen.getByRole("button", { name: "Save" }));
    expect((await screen.findByRole("alert")).textContent).toContain("metadata must be a JSON object");
  });
});

describe("ConfirmDialog", () => {
  it("starts on Cancel and Escape cancels", async () => {
    const onCancel = vi.fn();
    const onConfirm = vi.fn();
    render(
      <ConfirmDialog title="Delete?" confirmLabel="Delete" onConfirm={onConfirm} onCancel={onCancel}>
        <p>sure?</p>
      </ConfirmDialog>,
    );
    expect(document.activeElement?.textContent).toBe("Cancel");
    await userEvent.keyboard("{Escape}");
    expect(onCancel).toHaveBeenCalled();
    expect(onConfirm).not.toHaveBeenCalled();
  });
});
