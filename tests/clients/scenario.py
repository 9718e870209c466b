"""The congruence scenario: its fixtures, its normalisation, and its run through the Python client.

The same scenario is written once per front door: the Python client (here), the Go and
TypeScript clients (clients/go/internal/scenario/main.go, clients/ts/test/scenario.ts), REST
through Envoy (scenario_rest.py) and the MCP bridge (scenario_mcp.py). Each returns or prints
the same normalised JSON, which test_congruence.py compares. The Python runners share the
fixtures and the normalisation below; the Go and TypeScript copies spell them out again.

Normalised: memory names become their creation position ("#0"), timestamps, uids, etags and
hashes are dropped, scores are rounded to 2 places, enums are their proto names and errors
are {"code": <number>, "reason": <name>}.

Steps, each a key of the result: create three memories ("created"); list them in pages of 2
(raw pages, "pages", then the iterator, "listed"); search ("search"); update #0's content
with a mask that leaves its metadata ("updated"); delete #1 and get it ("get_deleted");
read the revisions of #0 and #1 ("revisions"); list what remains ("remaining"); list with
an unknown filter field ("bad_filter").
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from google.protobuf import field_mask_pb2, json_format, struct_pb2

from mem0stack import Client, Mem0StackError
from mem0stack.v1 import memory_pb2
from mem0stack.v1 import memory_service_pb2 as svc

# Fixtures: what every front door sends.

SEED = [
    ("I like window seats", {"topic": "travel"}, ["travel"]),
    ("My favourite food is ramen", {"topic": "food"}, ["food"]),
    ("I am allergic to peanuts", {"topic": "health"}, ["health"]),
]
PAGE_SIZE = 2
QUERY = "what food do I like to eat?"
TOP_K = 2
NEW_CONTENT = "I like aisle seats"
IGNORED_METADATA = {"topic": "ignored"}  # sent with an update mask that leaves metadata alone
BAD_FILTER = 'colour = "red"'


# Normalisation: what every front door's answers become.


class Positions:
    """Memory names as their creation position ("#0"); "?" for a name not created here."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)

    def __call__(self, name: str) -> str:
        return f"#{self.names.index(name)}" if name in self.names else "?"


def memory(m: memory_pb2.Memory, pos: Positions) -> dict[str, Any]:
    return {
        "name": pos(m.name),
        "content": m.content,
        "metadata": json_format.MessageToDict(m.metadata),
        "categories": list(m.categories),
        "state": memory_pb2.Memory.State.Name(m.state),
        "memory_type": memory_pb2.Memory.Type.Name(m.memory_type),
    }


def search_result(result: memory_pb2.SearchResult, pos: Positions) -> dict[str, Any]:
    return {"name": pos(result.memory.name), "score": round(result.score, 2)}


def revision(r: memory_pb2.MemoryRevision) -> dict[str, Any]:
    return {
        "event": memory_pb2.MemoryRevision.Event.Name(r.event),
        "content_before": r.content_before,
        "content_after": r.content_after,
    }


def error(exc: Mem0StackError) -> dict[str, Any]:
    return {"code": exc.code.value[0], "reason": exc.reason_name}


def struct(values: dict[str, Any]) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(values)
    return result


# The run through the Python client.


def run(target: str, user: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with Client(target) as client:
        created = [
            client.create(user, content, metadata=meta, categories=cats)
            for content, meta, cats in SEED
        ]
        names = [m.name for m in created]
        pos = Positions(names)
        out["created"] = [memory(m, pos) for m in created]

        pages = []
        request = svc.ListMemoriesRequest(parent=f"users/{user}", page_size=PAGE_SIZE)
        while True:
            page = client.list_memories(request)
            pages.append([pos(m.name) for m in page.memories])
            if not page.next_page_token:
                break
            request.page_token = page.next_page_token
        out["pages"] = pages
        out["listed"] = [pos(m.name) for m in client.iter_memories(user, page_size=PAGE_SIZE)]

        results = client.search(user, QUERY, top_k=TOP_K)
        out["search"] = [search_result(r, pos) for r in results]

        updated = client.update_memory(
            svc.UpdateMemoryRequest(
                memory=memory_pb2.Memory(
                    name=names[0], content=NEW_CONTENT, metadata=struct(IGNORED_METADATA)
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["content"]),
            )
        )
        out["updated"] = memory(updated, pos)

        client.delete(names[1])
        try:
            client.get(names[1])
            out["get_deleted"] = None
        except Mem0StackError as exc:
            out["get_deleted"] = error(exc)

        out["revisions"] = {
            pos(name): [revision(r) for r in client.iter_revisions(name)] for name in names[:2]
        }
        out["remaining"] = [pos(m.name) for m in client.iter_memories(user)]
        try:
            list(client.iter_memories(user, filter=BAD_FILTER))
            out["bad_filter"] = None
        except Mem0StackError as exc:
            out["bad_filter"] = error(exc)
    return out


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1], sys.argv[2]), indent=2, sort_keys=True))
