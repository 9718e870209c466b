"""The congruence scenario (scenario.py) over REST/JSON, through Envoy, in plain HTTP.

Each step is the REST route of its RPC (the proto's google.api.http rules, docs/api.md)
called with http.client, JSON in and out. Answers are read strictly as the proto's JSON
(an unknown field fails the run), then normalised by scenario.py's functions; an error is
the google.rpc.Status JSON Envoy returns, read as the Python client reads a gRPC status.
Where the clients have an iterator ("listed", "remaining", revisions), this runner follows
next_page_token itself, as a REST user would.

    python -m tests.clients.scenario_rest HOST:PORT USER
"""

from __future__ import annotations

import http.client
import json
import sys
from collections.abc import Iterator
from typing import Any, TypeVar
from urllib.parse import urlencode

from google.protobuf import empty_pb2, json_format
from google.protobuf.message import Message
from google.rpc import status_pb2

from mem0stack import Mem0StackError
from mem0stack.v1 import memory_pb2
from mem0stack.v1 import memory_service_pb2 as svc
from tests.clients.scenario import (
    BAD_FILTER,
    IGNORED_METADATA,
    NEW_CONTENT,
    PAGE_SIZE,
    QUERY,
    SEED,
    TOP_K,
    Positions,
    error,
    memory,
    revision,
    search_result,
)

M = TypeVar("M", bound=Message)


class Rest:
    """JSON calls to the gateway at ``address`` (``host:port``), one connection each."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self.host, self.port = host, int(port)

    def call(
        self,
        method: str,
        path: str,
        answer: type[M],
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> M:
        """The answer read as ``answer``; an error status raises it as a Mem0StackError."""
        if params:
            path = f"{path}?{urlencode(params)}"
        data = None if body is None else json.dumps(body).encode()
        headers = {"content-type": "application/json"} if data is not None else {}
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, body=data, headers=headers)
            reply = conn.getresponse()
            payload = reply.read()
        finally:
            conn.close()
        content_type = reply.getheader("content-type")
        assert content_type == "application/json", (method, path, reply.status, content_type)
        if reply.status != 200:
            status = json_format.Parse(payload, status_pb2.Status())
            raise Mem0StackError.from_status(status)
        return json_format.Parse(payload, answer())

    def pages(self, path: str, answer: type[Any], **params: Any) -> Iterator[Any]:
        """Each page of the list call at ``path``, following ``next_page_token``."""
        token = ""
        while True:
            page = self.call("GET", path, answer, params={**params, "page_token": token})
            yield page
            token = page.next_page_token
            if not token:
                return

    def memories(self, user: str, **params: Any) -> Iterator[memory_pb2.Memory]:
        """Every memory of ``user`` that ListMemories returns, page after page."""
        for page in self.pages(f"/v1/users/{user}/memories", svc.ListMemoriesResponse, **params):
            yield from page.memories

    def revisions(self, name: str) -> Iterator[memory_pb2.MemoryRevision]:
        for page in self.pages(f"/v1/{name}/revisions", svc.ListMemoryRevisionsResponse):
            yield from page.revisions


def run(address: str, user: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    rest = Rest(address)
    created = [
        rest.call(
            "POST",
            f"/v1/users/{user}/memories",
            memory_pb2.Memory,
            {"content": content, "metadata": meta, "categories": cats},
        )
        for content, meta, cats in SEED
    ]
    names = [m.name for m in created]
    pos = Positions(names)
    out["created"] = [memory(m, pos) for m in created]

    pages = [
        [pos(m.name) for m in page.memories]
        for page in rest.pages(
            f"/v1/users/{user}/memories", svc.ListMemoriesResponse, page_size=PAGE_SIZE
        )
    ]
    out["pages"] = pages
    out["listed"] = [pos(m.name) for m in rest.memories(user, page_size=PAGE_SIZE)]

    found = rest.call(
        "POST",
        f"/v1/users/{user}/memories:search",
        svc.SearchMemoriesResponse,
        {"query": QUERY, "top_k": TOP_K},
    )
    out["search"] = [search_result(r, pos) for r in found.results]

    updated = rest.call(
        "PATCH",
        f"/v1/{names[0]}",
        memory_pb2.Memory,
        {"content": NEW_CONTENT, "metadata": IGNORED_METADATA},
        params={"update_mask": "content"},
    )
    out["updated"] = memory(updated, pos)

    rest.call("DELETE", f"/v1/{names[1]}", empty_pb2.Empty)
    try:
        rest.call("GET", f"/v1/{names[1]}", memory_pb2.Memory)
        out["get_deleted"] = None
    except Mem0StackError as exc:
        out["get_deleted"] = error(exc)

    out["revisions"] = {
        pos(name): [revision(r) for r in rest.revisions(name)] for name in names[:2]
    }
    out["remaining"] = [pos(m.name) for m in rest.memories(user)]
    try:
        list(rest.memories(user, filter=BAD_FILTER))
        out["bad_filter"] = None
    except Mem0StackError as exc:
        out["bad_filter"] = error(exc)
    return out


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1], sys.argv[2]), indent=2, sort_keys=True))
