"""Value types the layers hand each other: what is about to be written, and by whom."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Caller:
    """Who makes a change, as recorded in revisions."""

    actor: str
    request_id: str = ""


@dataclass(frozen=True)
class AddInput:
    """The validated fields of an AddMemoriesRequest, other than its messages."""

    agent_id: str
    run_id: str
    metadata: dict[str, Any]
    categories: list[str]
    infer: bool
    memory_type: str


@dataclass(frozen=True)
class NewMemory:
    """A memory about to be inserted; every value is already validated."""

    id: uuid.UUID
    user_id: str
    content: str
    hash: str
    embedding: np.ndarray
    agent_id: str = ""
    run_id: str = ""
    actor_id: str = ""
    role: str = ""
    memory_type: str = "SEMANTIC"
    metadata: dict[str, Any] | None = None
    categories: Sequence[str] = ()
    create_time: datetime | None = None
    expire_time: datetime | None = None
    event_time: datetime | None = None
    # Kept from the source system on import; a fresh memory is ACTIVE and created now.
    update_time: datetime | None = None
    state: str = "ACTIVE"
    source_id: str = ""
    # When the fact became true (a stated date), and stopped being true (stated).
    valid_time: datetime | None = None
    invalid_time: datetime | None = None

    def valid_from(self, now: datetime) -> datetime:
        """valid_time as stored: the stated one, else the event time, else the create time."""
        return self.valid_time or self.event_time or self.create_time or now

    def row(self, now: datetime) -> dict[str, Any]:
        """The row this memory became when inserted at ``now``, without reading it back."""
        return {
            "id": self.id,
            "user_id": self.user_id,
            "agent_id": self.agent_id,
            "run_id": self.run_id,
            "actor_id": self.actor_id,
            "role": self.role,
            "memory_type": self.memory_type,
            "content": self.content,
            "hash": self.hash,
            "metadata": self.metadata or {},
            "categories": list(self.categories),
            "state": self.state,
            "superseded_by": None,
            "version": 1,
            "create_time": self.create_time or now,
            "update_time": self.update_time or self.create_time or now,
            "expire_time": self.expire_time,
            "event_time": self.event_time,
            "valid_time": self.valid_from(now),
            "invalid_time": self.invalid_time,
        }


@dataclass(frozen=True)
class Revision:
    """One history entry to record alongside a change."""

    memory_id: uuid.UUID
    user_id: str
    event: str
    content_before: str = ""
    content_after: str = ""
    metadata_before: dict[str, Any] | None = None
    metadata_after: dict[str, Any] | None = None
