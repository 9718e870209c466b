"""The structured results of the tools (their output schemas), built from the server's messages.

Field names follow mem0 and OpenMemory (``id``, ``memory``, ``event``, ``score``) so prompts
written for those keep working.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, Field

from mem0stack import Memory as MemoryMessage
from mem0stack import MemoryEvent, SearchResult
from mem0stack.structs import struct_to_dict

__all__ = [
    "AddResult",
    "DeleteAllResult",
    "DeleteResult",
    "Memory",
    "MemoryChange",
    "MemoryList",
    "ScoredMemory",
    "SearchResults",
    "memory_id",
]


class Memory(BaseModel):
    """One memory of the user."""

    id: str = Field(
        description="The memory's id: pass it to get_memory, update_memory or delete_memories."
    )
    memory: str = Field(description="The remembered text.")
    categories: list[str] = Field(
        default_factory=list, description="Topics the memory is filed under."
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="Free-form data stored with it."
    )
    agent_id: str | None = Field(default=None, description="The agent it is scoped to, if any.")
    run_id: str | None = Field(
        default=None, description="The run (session) it is scoped to, if any."
    )
    state: str = Field(
        description="ACTIVE, or SUPERSEDED when a newer memory contradicted it (kept for history)."
    )
    superseded_by: str | None = Field(
        default=None, description="The id of the memory that replaced it, when SUPERSEDED."
    )
    created_at: str | None = Field(default=None, description="When it was stored (RFC 3339).")
    updated_at: str | None = Field(default=None, description="When it last changed (RFC 3339).")

    @classmethod
    def of(cls, message: MemoryMessage) -> Memory:
        return cls(**_memory_fields(message))


class ScoredMemory(Memory):
    """A memory found by a search, with how similar it is to the query."""

    score: float = Field(description="Cosine similarity to the query, -1 to 1; higher is closer.")

    @classmethod
    def of_result(cls, result: SearchResult) -> ScoredMemory:
        return cls(**_memory_fields(result.memory), score=round(result.score, 4))


class MemoryChange(BaseModel):
    """What saving did with one fact."""

    event: str = Field(
        description="ADD (new memory), UPDATE (merged into an existing one), SUPERSEDE "
        "(replaced a contradicted one, which is kept as history), DELETE (removed one) or NOOP "
        "(already known)."
    )
    id: str = Field(description="The id of the memory concerned.")
    memory: str = Field(description="Its text after the change.")
    previous_memory: str | None = Field(default=None, description="Its text before an UPDATE.")
    superseded_id: str | None = Field(
        default=None, description="For SUPERSEDE: the id of the memory it replaced."
    )


class AddResult(BaseModel):
    """The outcome of add_memories."""

    results: list[MemoryChange] = Field(description="One entry per fact, in the order decided.")
    warnings: list[str] = Field(
        default_factory=list, description="Things worth knowing that did not fail the call."
    )


class SearchResults(BaseModel):
    """The outcome of search_memory."""

    results: list[ScoredMemory] = Field(description="The memories found, most relevant first.")


class MemoryList(BaseModel):
    """One page of list_memories."""

    memories: list[Memory] = Field(description="The memories on this page, newest first.")
    next_page_token: str | None = Field(
        default=None,
        description="Pass it as page_token to get the next page; absent on the last page.",
    )


class DeleteResult(BaseModel):
    """The outcome of delete_memories."""

    deleted_count: int = Field(description="How many memories were deleted.")
    ids: list[str] = Field(description="The ids of the deleted memories.")


class DeleteAllResult(BaseModel):
    """The outcome of delete_all_memories."""

    deleted_count: int = Field(description="How many memories were deleted.")


def memory_id(name: str) -> str:
    """The id (last segment) of a name ``users/{user}/memories/{id}``."""
    return name.rsplit("/", 1)[-1]


def change_of(event: MemoryEvent) -> MemoryChange:
    return MemoryChange(
        event=MemoryEvent.Type.Name(event.type),
        id=event.memory.uid or memory_id(event.memory.name),
        memory=event.memory.content,
        previous_memory=event.previous_content or None,
        superseded_id=memory_id(event.superseded_memory) if event.superseded_memory else None,
    )


def _memory_fields(message: MemoryMessage) -> dict[str, Any]:
    return {
        "id": message.uid or memory_id(message.name),
        "memory": message.content,
        "categories": list(message.categories),
        "metadata": struct_to_dict(message.metadata),
        "agent_id": message.agent_id or None,
        "run_id": message.run_id or None,
        "state": MemoryMessage.State.Name(message.state),
        "superseded_by": memory_id(message.superseded_by) if message.superseded_by else None,
        "created_at": _time(message, "create_time"),
        "updated_at": _time(message, "update_time"),
    }


def _time(message: MemoryMessage, field: str) -> str | None:
    if not message.HasField(field):  # type: ignore[arg-type]
        return None
    stamp: Timestamp = getattr(message, field)
    return stamp.ToJsonString()
