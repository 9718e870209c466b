"""The LLM side of graph memory: entities and relations out of a conversation, and which
stored relations new ones contradict.

Answers are read leniently where the meaning is clear (missing types, names differing
only in case from the entity list, memory numbers as strings) and rejected, so the client
asks the model to fix them, where it is not. A relation is never dropped quietly: one that
cannot be read fails the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mem0stack_server.app.graph import prompts
from mem0stack_server.app.inference import prompts as core_prompts
from mem0stack_server.domain.graph.model import (
    USER,
    ExtractedEntity,
    ExtractedRelation,
    Extraction,
    normalize_relation,
)
from mem0stack_server.llm import JsonTask, LLMClient, OutputShapeError, Usage

_FIRST_PERSON = {"i", "me", "my", "mine", "myself", "user", "the user", "usr"}
_MAX_NAME = 200
_MAX_RELATION = 80


async def extract_graph(
    llm: LLMClient, usage: Usage, transcript: str, memories: Sequence[str]
) -> Extraction:
    """One LLM request (plus a repair if needed) for the graph of ``memories``."""
    task = JsonTask(
        name="extract_graph",
        description="Report the entities and relations the memories mention.",
        system=prompts.EXTRACTION_SYSTEM,
        user=prompts.extraction_input(transcript, memories),
        schema=prompts.EXTRACTION_SCHEMA,
        repair_prompt=core_prompts.REPAIR,
    )

    def validate(data: Any) -> Extraction:
        return parse_extraction(data, len(memories))

    return await llm.complete_json(task, usage, validate)


def canonical_name(name: str) -> str:
    """The name with spacing collapsed; first-person words become USER."""
    name = " ".join(name.split())
    return USER if name.casefold() in _FIRST_PERSON else name


def parse_extraction(data: Any, memory_count: int) -> Extraction:
    """Entities and relations from the parsed answer.

    Accepted besides the schema: a missing or empty "type" (thing); an entity given as a
    plain string; relation ends not in the entity list (added, type thing); "memories"
    missing or naming no valid memory (all of the job's memories: the link to its
    sources is kept, if coarser); "from"/"to" for source and target.
    """
    if not isinstance(data, dict):
        raise OutputShapeError('expected {"entities": [...], "relations": [...]}')
    raw_entities = data.get("entities") or []
    raw_relations = data.get("relations") or []
    if not isinstance(raw_entities, list) or not isinstance(raw_relations, list):
        raise OutputShapeError('"entities" and "relations" must be lists')
    entities: dict[str, ExtractedEntity] = {}

    def add_entity(name: str, kind: str) -> str:
        name = canonical_name(name)
        if name == USER:
            kind = "person"
        key = name.casefold()
        if key not in entities:
            entities[key] = ExtractedEntity(name, kind or "thing")
        elif kind and entities[key].type == "thing":
            entities[key] = ExtractedEntity(entities[key].name, kind)
        return entities[key].name

    for i, item in enumerate(raw_entities):
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise OutputShapeError(f'entity {i} has no "name" string')
        name = item["name"]
        if not name.strip():
            continue
        if len(name) > _MAX_NAME:
            raise OutputShapeError(f"entity {i} has a name longer than {_MAX_NAME} characters")
        kind = item.get("type")
        add_entity(name, normalize_relation(kind) if isinstance(kind, str) else "")

    relations: list[ExtractedRelation] = []
    everything = tuple(range(memory_count))
    for i, item in enumerate(raw_relations):
        if not isinstance(item, dict):
            raise OutputShapeError(f"relation {i} is a {type(item).__name__}, not an object")
        source = item.get("source", item.get("from"))
        target = item.get("target", item.get("to"))
        relation = item.get("relation", item.get("type"))
        if not all(isinstance(v, str) for v in (source, target, relation)):
            raise OutputShapeError(f'relation {i} needs "source", "relation" and "target" strings')
        assert isinstance(source, str) and isinstance(target, str) and isinstance(relation, str)
        relation = normalize_relation(relation)
        if not source.strip() or not target.strip() or not relation:
            continue  # says nothing; there is no relation to lose
        if len(relation) > _MAX_RELATION or max(len(source), len(target)) > _MAX_NAME:
            raise OutputShapeError(f"relation {i} has a name that is too long")
        source = add_entity(source, "")
        target = add_entity(target, "")
        if source.casefold() == target.casefold():
            continue  # a self-loop is a model slip, not a fact
        relations.append(
            ExtractedRelation(source, relation, target, _memories(item.get("memories"), everything))
        )
    return Extraction(list(entities.values()), relations)


def _memories(raw: Any, everything: tuple[int, ...]) -> tuple[int, ...]:
    values = raw if isinstance(raw, list) else [raw]
    found: list[int] = []
    for value in values:
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(everything):
            found.append(value)
    return tuple(sorted(set(found))) or everything


async def find_contradicted(
    llm: LLMClient,
    usage: Usage,
    stored: Sequence[tuple[str, str, str]],
    new: Sequence[tuple[str, str, str]],
) -> list[int]:
    """Indexes into ``stored`` of the relations the ``new`` ones contradict."""
    task = JsonTask(
        name="contradict_relations",
        description="Report the stored relations that are no longer true.",
        system=prompts.CONTRADICTION_SYSTEM,
        user=prompts.contradiction_input([(i, s, r, t) for i, (s, r, t) in enumerate(stored)], new),
        schema=prompts.CONTRADICTION_SCHEMA,
        repair_prompt=core_prompts.REPAIR,
    )

    def validate(data: Any) -> list[int]:
        return parse_contradicted(data, len(stored))

    return await llm.complete_json(task, usage, validate)


def parse_contradicted(data: Any, count: int) -> list[int]:
    """Numbers outside the list are ignored: a stored relation is never invalidated by
    a number the model made up."""
    items = data.get("contradicted") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise OutputShapeError('expected {"contradicted": [...]} with a list of numbers')
    found: set[int] = set()
    for item in items:
        if isinstance(item, str) and item.strip().isdigit():
            item = int(item)
        if isinstance(item, int) and not isinstance(item, bool) and 0 <= item < count:
            found.add(item)
    return sorted(found)
