// Runs the congruence scenario through the TypeScript client and prints its normalised
// JSON result; tests/clients/test_congruence.py compares it with the Python and Go
// clients' (tests/clients/scenario.py describes the scenario and the normalisation).
//
//   node dist/test/scenario.js TARGET USER
import {
  ConnectError,
  Mem0StackClient,
  MemoryRevision_Event,
  Memory_State,
  Memory_Type,
  errorDetails,
  type Memory,
} from "../src/index.js";

const seeds: [string, Record<string, string>, string[]][] = [
  ["I like window seats", { topic: "travel" }, ["travel"]],
  ["My favourite food is ramen", { topic: "food" }, ["food"]],
  ["I am allergic to peanuts", { topic: "health" }, ["health"]],
];

async function run(target: string, user: string): Promise<Record<string, unknown>> {
  const client = new Mem0StackClient(target);
  const out: Record<string, unknown> = {};
  const names: string[] = [];
  const pos = (name: string) => (names.includes(name) ? `#${names.indexOf(name)}` : "?");
  const memory = (m: Memory) => ({
    name: pos(m.name),
    content: m.content,
    metadata: m.metadata ?? {},
    categories: m.categories,
    state: Memory_State[m.state],
    memory_type: Memory_Type[m.memoryType],
  });
  const error = (e: unknown) => {
    const d = errorDetails(e);
    return { code: d.code, reason: d.reasonName };
  };
  const collect = async (items: AsyncIterable<Memory>) => {
    const all: string[] = [];
    for await (const m of items) all.push(pos(m.name));
    return all;
  };

  const created: Memory[] = [];
  for (const [content, metadata, categories] of seeds) {
    const m = await client.create(user, { content, metadata, categories });
    names.push(m.name);
    created.push(m);
  }
  out.created = created.map(memory);

  const pages: string[][] = [];
  let pageToken = "";
  do {
    const page = await client.rpc.listMemories({ parent: `users/${user}`, pageSize: 2, pageToken });
    pages.push(page.memories.map((m) => pos(m.name)));
    pageToken = page.nextPageToken;
  } while (pageToken);
  out.pages = pages;
  out.listed = await collect(client.list(user, { pageSize: 2 }));

  const results = await client.search(user, "what food do I like to eat?", { topK: 2 });
  out.search = results.map((r) => ({ name: pos(r.memory?.name ?? ""), score: Math.round(r.score * 100) / 100 }));

  const updated = await client.rpc.updateMemory({
    memory: { name: names[0], content: "I like aisle seats", metadata: { topic: "ignored" } },
    updateMask: { paths: ["content"] },
  });
  out.updated = memory(updated);

  await client.delete(names[1]!);
  out.get_deleted = await client.get(names[1]!).then(() => null, error);

  const revisions: Record<string, unknown> = {};
  for (const name of names.slice(0, 2)) {
    const list = [];
    for await (const r of client.revisions(name)) {
      list.push({
        event: MemoryRevision_Event[r.event],
        content_before: r.contentBefore,
        content_after: r.contentAfter,
      });
    }
    revisions[pos(name)] = list;
  }
  out.revisions = revisions;
  out.remaining = await collect(client.list(user));
  out.bad_filter = await collect(client.list(user, { filter: 'colour = "red"' })).then(() => null, error);
  return out;
}

const [target, user] = process.argv.slice(2);
if (!target || !user) {
  console.error("usage: node dist/test/scenario.js TARGET USER");
  process.exit(2);
}
run(target, user).then(
  (out) => console.log(JSON.stringify(out, null, 2)),
  (e: unknown) => {
    console.error(ConnectError.from(e).message);
    process.exit(1);
  },
);
