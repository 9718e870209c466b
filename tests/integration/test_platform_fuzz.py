"""No request to mem0's Platform routes, however wrong, is answered as a server fault.

The Platform routes (/v1/memories/, /v3/memories/add/, ...: transport/platform) are not in
the OpenAPI description that test_rest_fuzz.py is generated from, so this file fuzzes them
from their route table: JSON bodies of any shape with mem0's field names and hostile values
(NUL characters, 6,000-character text, huge and non-finite numbers, wrong types), the same
in query parameters, and real or made-up memory ids in paths, through real Envoy with a
real key. Every answer is below 500, and an error is mem0's JSON error body. Seeded and
bounded in time.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mem0stack_server.transport.platform.app import ROUTES
from tests.support.envoy import EnvoyProcess
from tests.support.mem0_platform import PlatformStack, platform_stack

BUDGET_S = 40.0
FUZZ = settings(
    max_examples=40,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
FIELDS = [
    "user_id",
    "agent_id",
    "run_id",
    "app_id",
    "messages",
    "memory",
    "text",
    "query",
    "filters",
    "metadata",
    "infer",
    "page",
    "page_size",
    "limit",
    "top_k",
    "threshold",
    "memories",
    "memory_ids",
    "memory_id",
    "categories",
    "output_format",
    "version",
    "async_mode",
    "expiration_date",
    "fields",
    "rerank",
    "keyword_search",
    "timestamp",
    "custom_categories",
    "includes",
    "excludes",
    "immutable",
    "role",
    "content",
    "AND",
    "OR",
]
TEXT = st.one_of(
    st.sampled_from(["", "alice", "\x00", "a\x00b", "x" * 6_000, "users/x", "1e400", "-1", "*"]),
    st.text(max_size=16),
)
SCALAR = st.one_of(
    TEXT,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([float("nan"), float("inf"), -1.0, 0.5, 1e308]),
    st.booleans(),
    st.none(),
)
JSON = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), TEXT), inner, max_size=4),
    ),
    max_leaves=12,
)
BODY = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=6),
    st.fixed_dictionaries(
        {"user_id": st.just("alice")}, optional={f: JSON for f in FIELDS if f != "user_id"}
    ),
    JSON,
)
# Bodies of the right shape, mostly with plain values, so the handlers' checks past the
# first (which refuse any NUL or NaN anywhere) are reached.
WORD = st.one_of(
    st.sampled_from(["alice", "likes tea", "Berlin", "2024-01-01", "food"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz _-.:", max_size=12),
)
MIXED = st.one_of(WORD, WORD, WORD, TEXT)
INT = st.one_of(st.sampled_from([0, 1, -1, 100, 10_000, 2**31, 2**63]), st.integers(-5, 200))
OPS = ["in", "gte", "lte", "gt", "lt", "ne", "icontains", "contains", "eq", "nin", "bogus"]
CONDITION = st.dictionaries(
    st.sampled_from(
        [
            "user_id",
            "agent_id",
            "run_id",
            "created_at",
            "updated_at",
            "categories",
            "metadata",
            "memory_ids",
            "keywords",
            "nope",
        ]
    ),
    st.one_of(
        MIXED,
        INT,
        st.dictionaries(
            st.sampled_from(OPS),
            st.one_of(MIXED, INT, st.lists(MIXED, max_size=2)),
            min_size=1,
            max_size=2,
        ),
    ),
    min_size=1,
    max_size=2,
)
FILTERS = st.one_of(
    CONDITION,
    st.fixed_dictionaries({"AND": st.lists(CONDITION, max_size=3)}),
    st.fixed_dictionaries({"OR": st.lists(CONDITION, max_size=3)}),
    st.fixed_dictionaries({"AND": st.just([{"user_id": "alice"}]), "NOT": JSON}),
)
MESSAGE = st.fixed_dictionaries(
    {"role": st.one_of(st.sampled_from(["user", "assistant", "system"]), MIXED), "content": MIXED},
    optional={"name": MIXED},
)
TYPED = st.fixed_dictionaries(
    {"user_id": st.one_of(st.just("alice"), MIXED)},
    optional={
        "agent_id": MIXED,
        "run_id": MIXED,
        "messages": st.one_of(st.lists(MESSAGE, max_size=3), MIXED),
        "infer": st.just(False),
        "query": MIXED,
        "text": MIXED,
        "filters": FILTERS,
        "metadata": st.dictionaries(MIXED, st.one_of(MIXED, INT, st.booleans()), max_size=3),
        "categories": st.lists(MIXED, max_size=3),
        "top_k": INT,
        "limit": INT,
        "page": INT,
        "page_size": INT,
        "threshold": st.one_of(
            st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([0.0, 1.0, -1.0])
        ),
        "memory_ids": st.lists(MIXED, max_size=3),
        "memories": st.lists(
            st.fixed_dictionaries({"memory_id": MIXED}, optional={"text": MIXED}), max_size=3
        ),
        "output_format": st.sampled_from(["v1.0", "v1.1", "v2", ""]),
        "expiration_date": MIXED,
        "fields": st.lists(MIXED, max_size=2),
    },
)
QUERY = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), st.one_of(TEXT, st.just("alice")), max_size=4),
    st.fixed_dictionaries(
        {"user_id": st.just("alice")},
        optional={f: st.one_of(TEXT, INT.map(str)) for f in FIELDS if f != "user_id"},
    ),
)
OPERATIONS = [(path, method) for path, methods, _ in ROUTES for method in methods]


@pytest.fixture(scope="module")
def stack(make_database) -> Iterator[PlatformStack]:  # type: ignore[no-untyped-def]
    with platform_stack(make_database) as made:
        yield made


def _send(
    envoy: EnvoyProcess, method: str, path: str, key: str, body: Any, query: dict[str, str]
) -> Any:
    raw = None if method in ("GET",) and body is None else json.dumps(body).encode()
    return envoy.request(
        method,
        path,
        raw=raw,
        params=query or None,
        headers={"authorization": f"Token {key}", "content-type": "application/json"},
    )


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_no_platform_request_is_a_server_fault(
    stack: PlatformStack, path: str, method: str
) -> None:
    key = stack.keys["alice"]
    made = _send(
        stack.envoy,
        "POST",
        "/v1/memories/",
        key,
        {
            "user_id": "alice",
            "messages": [{"role": "user", "content": "likes tea"}],
            "infer": False,
        },
        {},
    )
    assert made.status == 200, made.body
    real_ids = [str(item["id"]) for item in _results(made.json)]
    deadline = time.monotonic() + BUDGET_S / len(OPERATIONS)

    @FUZZ
    @given(
        body=st.one_of(TYPED, TYPED, TYPED, TYPED, BODY, st.none()),
        query=QUERY,
        segment=st.one_of(
            st.sampled_from([*real_ids, str(uuid.UUID(int=0)), "alice", "user"]), TEXT
        ),
    )
    def check(body: Any, query: dict[str, str], segment: str) -> None:
        if time.monotonic() > deadline:
            return
        filled = path
        for name in ("{memory_id}", "{entity_type}", "{entity_id}", "{event_id}"):
            filled = filled.replace(name, quote(segment, safe="") or "x")
        response = _send(stack.envoy, method, filled, key, body, query)
        label = f"{method} {filled} {query!r:.300} {body!r:.500}"
        assert response.status < 500, f"{label}: {response.status} {response.body[:1500]!r}"
        if response.status >= 400:
            assert isinstance(response.json, dict), f"{label}: {response.body[:1500]!r}"

    check()


def _results(reply: Any) -> list[dict[str, Any]]:
    items = reply.get("results", reply) if isinstance(reply, dict) else reply
    return [item for item in items if isinstance(item, dict) and "id" in item]
