"""Page tokens and cursors: only what this deployment signed is read back, and a signed
position must still fit the bigint it stands for."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from mem0stack_server.domain import pagination
from mem0stack_server.domain.errors import DomainError
from mem0stack_server.domain.pagination import decode_token, encode_token, set_signing_key
from mem0stack_server.domain.tokens import decode_cursor, encode_cursor

KEY = bytes(range(32))


@pytest.fixture(autouse=True)
def signing_key() -> Iterator[None]:
    before = pagination._signing_key
    set_signing_key(KEY)
    yield
    pagination._signing_key = before


def _reason(call: object) -> str:
    with pytest.raises(DomainError) as caught:
        call()  # type: ignore[operator]
    return str(caught.value.reason)


def test_round_trip() -> None:
    token = encode_token("q", ["2024-05-01T00:00:00+00:00", "id"])
    assert decode_token(token, "q", 2) == ["2024-05-01T00:00:00+00:00", "id"]
    assert decode_token("", "q", 2) is None


def test_every_altered_byte_is_refused() -> None:
    token = encode_token("q", [1])
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    for i in range(len(raw)):
        changed = bytearray(raw)
        changed[i] ^= 0x01
        bad = base64.urlsafe_b64encode(bytes(changed)).decode().rstrip("=")
        assert _reason(lambda bad=bad: decode_token(bad, "q", 1)) == "INVALID_PAGE_TOKEN"


def test_a_token_of_another_deployment_is_refused() -> None:
    token = encode_token("q", [1])
    set_signing_key(bytes(32))
    assert _reason(lambda: decode_token(token, "q", 1)) == "INVALID_PAGE_TOKEN"


def test_a_token_of_another_query_is_refused() -> None:
    token = encode_token("q", [1])
    assert _reason(lambda: decode_token(token, "other", 1)) == "INVALID_PAGE_TOKEN"


@pytest.mark.parametrize("text", ["%%%", "A", "AAAA", "=" * 8, "é"])
def test_malformed_tokens_are_refused(text: str) -> None:
    assert _reason(lambda: decode_token(text, "q", 1)) == "INVALID_PAGE_TOKEN"


@pytest.mark.parametrize("value", [2**63, 2**70, -1, True, "7", 1.5, None])
def test_signed_positions_must_fit_a_bigint(value: object) -> None:
    cursor = encode_cursor("watch", value)
    assert _reason(lambda: decode_cursor(cursor, "watch", "cursor")) == "INVALID_CURSOR"


def test_largest_position_is_read() -> None:
    assert decode_cursor(encode_cursor("watch", 2**63 - 1), "watch", "cursor") == 2**63 - 1


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError):
        set_signing_key(b"short")
