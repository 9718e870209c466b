// Store, search, list, update and delete memories with the mem0-stack TypeScript client.
//
//   mem0stack serve &                    # a server on localhost:50051
//   cd clients/ts && npm run example
//
// MEM0STACK_TARGET and MEM0STACK_API_KEY point it elsewhere.
import { ErrorReason, Mem0StackClient, isReason } from "../src/index.js";

const client = new Mem0StackClient(process.env.MEM0STACK_TARGET ?? "localhost:50051", {
  apiKey: process.env.MEM0STACK_API_KEY,
});
const user = `quickstart-${Date.now()}`;

const seat = await client.create(user, { content: "Prefers window seats", metadata: { topic: "travel" } });
await client.add(user, "I am allergic to peanuts");
await client.add(user, [{ role: "user", content: "My favourite food is ramen" }]);

console.log("search 'what should I cook?':");
for (const result of await client.search(user, "what should I cook?", { topK: 2 })) {
  console.log(`  ${result.score.toFixed(2)}  ${result.memory?.content}`);
}

console.log("all memories, newest first:");
for await (const memory of client.list(user, { pageSize: 2 })) {
  console.log(`  ${memory.content}`);
}

await client.update({ name: seat.name, content: "Prefers aisle seats" }, ["content"]);
for await (const revision of client.revisions(seat.name)) {
  console.log(`revision: ${JSON.stringify(revision.contentBefore)} -> ${JSON.stringify(revision.contentAfter)}`);
}

await client.delete(seat.name);
try {
  await client.get(seat.name);
  throw new Error("the memory is still there");
} catch (error) {
  if (!isReason(error, ErrorReason.MEMORY_NOT_FOUND)) throw error;
  console.log("after delete: MEMORY_NOT_FOUND");
}
console.log(`deleted the remaining ${await client.deleteAll(user)} memories`);
