"""What graph extraction produces and the graph store consumes."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime


def normalize_relation(text: str) -> str:
    """Lower snake case: "Works At" and "works-at" are both "works_at"."""
    return re.sub(r"[^\w]+", "_", text.strip().casefold()).strip("_")


# The name the LLM uses for the user ("I", "me", "my" in the conversation).
USER = "USER"


@dataclass(frozen=True)
class ExtractedEntity:
    """An entity the LLM found: its name as written, and its type (lower case)."""

    name: str
    type: str


@dataclass(frozen=True)
class ExtractedRelation:
    """``source relation target``; ``memories`` index the job's memories it came from."""

    source: str
    relation: str
    target: str
    memories: tuple[int, ...]


@dataclass(frozen=True)
class Extraction:
    """One extraction answer, already checked."""

    entities: list[ExtractedEntity]
    relations: list[ExtractedRelation]


@dataclass(frozen=True)
class SourceMemory:
    """A memory a graph job is about: its id and text."""

    id: uuid.UUID
    content: str


@dataclass
class GraphWrite:
    """Everything one EXTRACT job writes: resolved by ``GraphStore.apply``."""

    user_id: str
    memories: list[SourceMemory]
    extraction: Extraction
    valid_time: datetime
    # Name embeddings, one per entity of the extraction, and one per relation (of the
    # text "source relation target"), in extraction order.
    entity_vectors: list[list[float]] = field(default_factory=list)
    relation_vectors: list[list[float]] = field(default_factory=list)


@dataclass(frozen=True)
class WrittenRelation:
    """A relation as written, for the contradiction check."""

    id: str
    source_id: str
    source_name: str
    relation: str
    target_id: str
    target_name: str


@dataclass(frozen=True)
class ApplyResult:
    """What ``GraphStore.apply`` did: the relations it wrote or confirmed."""

    relations: list[WrittenRelation]
