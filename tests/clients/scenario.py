"""The congruence scenario, through the Python client.

The same scenario is written once per client (clients/go/internal/scenario/main.go,
clients/ts/test/scenario.ts); each prints the same normalised JSON, which
test_congruence.py compares. Normalised: memory names become their creation position
("#0"), timestamps, uids, etags and hashes are dropped, scores are rounded to 2 places,
enums are their proto names and errors are {"code": <number>, "reason": <name>}.

Steps: create three memories; list them in pages of 2 (raw pages, then the iterator);
search; update #0's content with a mask that leaves its metadata; delete #1 and get it;
read the revisions of #0 and #1; list what remains; list with an unknown filter field.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from google.protobuf import field_mask_pb2, json_format, struct_pb2

from mem0stack import Client, Mem0StackError
from mem0stack.v1 import memory_pb2
from mem0stack.v1 import memory_service_pb2 as svc

SEED = [
    ("I like window seats", {"topic": "travel"}, ["travel"]),
    ("My favourite food is ramen", {"topic": "food"}, ["food"]),
    ("I am allergic to peanuts", {"topic": "health"}, ["health"]),
]


def _struct(values: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


def run(target: str, user: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with Client(target) as client:
        created = [
            client.create(user, content, metadata=meta, categories=cats)
            for content, meta, cats in SEED
        ]
        names = [m.name for m in created]

        def pos(name: str) -> str:
            return f"#{names.index(name)}" if name in names else "?"

        def memory(m: memory_pb2.Memory) -> dict[str, Any]:
            return {
                "name": pos(m.name),
                "content": m.content,
                "metadata": json_format.MessageToDict(m.metadata),
                "categories": list(m.categories),
                "state": memory_pb2.Memory.State.Name(m.state),
                "memory_type": memory_pb2.Memory.Type.Name(m.memory_type),
            }

        def error(exc: Mem0StackError) -> dict[str, Any]:
            return {"code": exc.code.value[0], "reason": exc.reason_name}

        out["created"] = [memory(m) for m in created]

        pages = []
        request = svc.ListMemoriesRequest(parent=f"users/{user}", page_size=2)
        while True:
            page = client.list_memories(request)
            pages.append([pos(m.name) for m in page.memories])
            if not page.next_page_token:
                break
            request.page_token = page.next_page_token
        out["pages"] = pages
        out["listed"] = [pos(m.name) for m in client.iter_memories(user, page_size=2)]

        results = client.search(user, "what food do I like to eat?", top_k=2)
        out["search"] = [{"name": pos(r.memory.name), "score": round(r.score, 2)} for r in results]

        updated = client.update_memory(
            svc.UpdateMemoryRequest(
                memory=memory_pb2.Memory(
                    name=names[0],
                    content="I like aisle seats",
                    metadata=_struct({"topic": "ignored"}),
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["content"]),
            )
        )
        out["updated"] = memory(updated)

        client.delete(names[1])
        try:
            client.get(names[1])
            out["get_deleted"] = None
        except Mem0StackError as exc:
            out["get_deleted"] = error(exc)

        out["revisions"] = {
            pos(name): [
                {
                    "event": memory_pb2.MemoryRevision.Event.Name(r.event),
                    "content_before": r.content_before,
                    "content_after": r.content_after,
                }
                for r in client.iter_revisions(name)
            ]
            for name in names[:2]
        }
        out["remaining"] = [pos(m.name) for m in client.iter_memories(user)]
        try:
            list(client.iter_memories(user, filter='colour = "red"'))
            out["bad_filter"] = None
        except Mem0StackError as exc:
            out["bad_filter"] = error(exc)
    return out


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1], sys.argv[2]), indent=2, sort_keys=True))
