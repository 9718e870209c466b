"""Store, search, list, update and delete memories with the mem0-stack Python client.

    mem0stack serve &                      # a server on localhost:50051
    python clients/python/examples/quickstart.py

MEM0STACK_TARGET and MEM0STACK_API_KEY point it elsewhere.
"""

from __future__ import annotations

import os
import uuid

from mem0stack import Client, ErrorReason, Mem0StackError


def main() -> None:
    target = os.environ.get("MEM0STACK_TARGET", "localhost:50051")
    user = f"quickstart-{uuid.uuid4().hex[:8]}"
    with Client(target, api_key=os.environ.get("MEM0STACK_API_KEY")) as client:
        seat = client.create(user, "Prefers window seats", metadata={"topic": "travel"})
        client.add(user, "I am allergic to peanuts")
        client.add(user, [{"role": "user", "content": "My favourite food is ramen"}])

        print("search 'what should I cook?':")
        for result in client.search(user, "what should I cook?", top_k=2):
            print(f"  {result.score:.2f}  {result.memory.content}")

        print("all memories, newest first:")
        for memory in client.iter_memories(user, page_size=2):
            print(f"  {memory.content}")

        client.update(seat.name, content="Prefers aisle seats")
        for revision in client.iter_revisions(seat.name):
            print(f"revision: {revision.content_before!r} -> {revision.content_after!r}")

        client.delete(seat.name)
        try:
            client.get(seat.name)
        except Mem0StackError as error:
            assert error.reason == ErrorReason.MEMORY_NOT_FOUND
            print(f"after delete: {error.reason_name}")
        print(f"deleted the remaining {client.delete_all(user)} memories")


if __name__ == "__main__":
    main()
