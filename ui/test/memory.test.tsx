import { create } from "@bufbuild/protobuf";
import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { Memory_State, MemorySchema } from "@client/gen/mem0stack/v1/memory_pb.js";
import { MemoryFacts } from "../src/memory/MemoryFacts";
import { Diff } from "../src/memory/Diff";

describe("MemoryFacts", () => {
  it("links a superseded memory to the one that replaced it", () => {
    const memory = create(MemorySchema, {
      name: "users/alice/memories/old",
      content: "Lives in Lisbon",
      state: Memory_State.SUPERSEDED,
      supersededBy: "users/alice/memories/new",
      metadata: { source: "chat" },
    });
    render(<MemoryFacts memory={memory} />);
    const link = screen.getByRole("link", { name: "users/alice/memories/new" });
    expect(link.getAttribute("href")).toBe("#/users/alice/memories/new");
    expect(screen.getByText("SUPERSEDED")).toBeTruthy();
    expect(screen.getByText(/"source": "chat"/)).toBeTruthy();
  });

  it("says nothing of a replacement when there is none", () => {
    render(<MemoryFacts memory={create(MemorySchema, { name: "users/a/memories/m", content: "x" })} />);
    expect(screen.queryByText(/Superseded by/)).toBeNull();
  });
});

describe("Diff", () => {
  it("marks insertions and deletions as such", () => {
    const { container } = render(<Diff before="Lives in Lisbon" after="Lives in Porto" />);
    expect(container.querySelector("del")?.textContent).toBe("Lisbon");
    expect(container.querySelector("ins")?.textContent).toBe("Porto");
  });
});
