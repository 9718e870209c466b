"""Webhooks without I/O: their names, URL rules, event types and delivery signatures.

A delivery is signed as ``v1=<hex HMAC-SHA256 of "{timestamp}.{body}">`` under the
webhook's secret, the timestamp (Unix seconds) sent beside it, so a receiver can reject a
body that was altered and one replayed long after it was sent (docs/webhooks.md).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from mem0stack_server.domain.errors import DomainError, Reason, echo, invalid
from mem0stack_server.domain.names import parse_parent

MAX_URL_CHARS = 2_048
#: The kinds of change a webhook can ask for (the feed's events, plus EXPIRED).
EVENT_TYPES = ("CREATED", "UPDATED", "SUPERSEDED", "DELETED", "EXPIRED")

SIGNATURE_HEADER = "Mem0stack-Signature"
TIMESTAMP_HEADER = "Mem0stack-Timestamp"
DELIVERY_HEADER = "Mem0stack-Delivery"
EVENT_HEADER = "Mem0stack-Event"


@dataclass(frozen=True)
class WebhookName:
    """A parsed webhook name: of one user, or (``user_id`` None) of all users."""

    user_id: str | None
    webhook_id: uuid.UUID

    def __str__(self) -> str:
        return webhook_name(self.user_id, self.webhook_id)


def webhook_name(user_id: str | None, webhook_id: uuid.UUID) -> str:
    if user_id is None:
        return f"webhooks/{webhook_id}"
    return f"users/{user_id}/webhooks/{webhook_id}"


def delivery_name(user_id: str | None, webhook_id: uuid.UUID, seq: int) -> str:
    return f"{webhook_name(user_id, webhook_id)}/deliveries/{seq}"


def parse_webhook_parent(value: str, field: str = "parent") -> str | None:
    """The user of ``users/{user}``; None for the empty parent (all users)."""
    return None if value == "" else parse_parent(value, field)


def parse_webhook_name(value: str, field: str = "name") -> WebhookName:
    """The parts of ``users/{user}/webhooks/{webhook}`` or ``webhooks/{webhook}``."""
    parts = value.split("/")
    try:
        if len(parts) == 2 and parts[0] == "webhooks":
            return WebhookName(None, uuid.UUID(parts[1]))
        if len(parts) == 4 and parts[2] == "webhooks":
            return WebhookName(parse_parent("/".join(parts[:2]), field), uuid.UUID(parts[3]))
    except (ValueError, DomainError):
        pass
    shown = value if len(value) <= 200 else value[:200] + "..."
    raise invalid(
        Reason.INVALID_NAME,
        field,
        f"{shown!r} is not a valid name; expected users/{{user}}/webhooks/{{webhook}} or "
        "webhooks/{webhook}",
        name=shown,
    )


def check_url(url: str, field: str = "webhook.url") -> str:
    """``url`` if it is an http(s) URL with a host, else INVALID_ARGUMENT."""
    if not url:
        raise invalid(Reason.INVALID_WEBHOOK_URL, field, "is required", url="")
    if len(url) > MAX_URL_CHARS:
        raise invalid(
            Reason.INVALID_WEBHOOK_URL,
            field,
            f"is longer than {MAX_URL_CHARS} characters",
            url=url[:80],
        )
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        ok = False
    if not ok:
        raise invalid(
            Reason.INVALID_WEBHOOK_URL,
            field,
            f"{echo(url)} is not an http or https URL with a host",
            url=url[:80],
        )
    if any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        raise invalid(
            Reason.INVALID_WEBHOOK_URL, field, f"{echo(url)} contains whitespace", url=url[:80]
        )
    return url


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    message = f"{timestamp}.".encode() + body
    return "v1=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def backoff_s(attempts: int, initial_s: float, max_s: float) -> float:
    """The wait after the ``attempts``-th failed attempt: doubling, capped."""
    return float(min(max_s, initial_s * 2 ** min(attempts - 1, 30)))
