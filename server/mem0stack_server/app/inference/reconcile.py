"""Step 2 of AddMemories with an LLM: decide, for all new facts at once, what changes.

The LLM sees the candidate memories numbered 0..n-1 (``IdMap``), never their real ids, and
answers with one decision per fact. ``parse_decisions`` turns that answer into decisions
on real ids and holds the model to the rules, repairing what has one safe reading and
reporting it as a warning:

- a memory number that was not shown is ignored (the fact is added, or nothing is deleted);
- a fact without a decision is added, so no fact is dropped;
- a DELETE of a fact that was not a request to forget is a contradiction: SUPERSEDE;
- a request to forget is never stored;
- a second UPDATE, SUPERSEDE or DELETE of one memory is not applied (the fact is added).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mem0stack_server.app.inference import prompts
from mem0stack_server.app.inference.extraction import Fact
from mem0stack_server.llm import JsonTask, LLMClient, OutputShapeError, Usage
from mem0stack_server.obs import metrics

ADD, UPDATE, SUPERSEDE, DELETE, NOOP = prompts.EVENTS
_CHANGES = (UPDATE, SUPERSEDE, DELETE)


class IdMap:
    """Real memory ids and the small integers the LLM sees instead, both ways."""

    def __init__(self, ids: Sequence[uuid.UUID]) -> None:
        self._ids = list(dict.fromkeys(ids))
        self._keys = {memory_id: key for key, memory_id in enumerate(self._ids)}

    def __len__(self) -> int:
        return len(self._ids)

    def key_of(self, memory_id: uuid.UUID) -> int:
        return self._keys[memory_id]

    def id_of(self, key: int) -> uuid.UUID | None:
        """The real id behind ``key``, or None for a number the LLM was not shown."""
        return self._ids[key] if 0 <= key < len(self._ids) else None


@dataclass(frozen=True)
class Decision:
    """What to do with one fact: ``target`` is the existing memory concerned, if any."""

    fact: int
    event: str
    target: uuid.UUID | None
    text: str


async def decide(
    llm: LLMClient,
    usage: Usage,
    facts: Sequence[Fact],
    memories: Sequence[tuple[uuid.UUID, str]],
    max_chars: int,
) -> tuple[list[Decision], list[str]]:
    """One LLM request deciding every fact against the candidate memories."""
    ids = IdMap([memory_id for memory_id, _ in memories])
    task = JsonTask(
        name="reconcile_memories",
        description="Report one decision per new fact.",
        system=prompts.RECONCILE_SYSTEM,
        user=prompts.reconcile_input(
            [(ids.key_of(memory_id), text) for memory_id, text in memories],
            [(f.text, f.forget) for f in facts],
        ),
        schema=prompts.RECONCILE_SCHEMA,
        repair_prompt=prompts.REPAIR,
    )

    def validate(data: Any) -> tuple[list[Decision], list[str]]:
        return parse_decisions(data, facts, ids, max_chars)

    return await llm.complete_json(task, usage, validate)


def parse_decisions(
    data: Any, facts: Sequence[Fact], ids: IdMap, max_chars: int
) -> tuple[list[Decision], list[str]]:
    """Decisions on real ids, one per fact in fact order, and warnings about the answer."""
    items = data.get("decisions") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise OutputShapeError('expected {"decisions": [...]} with a list of decisions')
    warnings: list[str] = []
    chosen: dict[int, Decision] = {}
    changed: set[uuid.UUID] = set()
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            raise OutputShapeError(f"decision {position} is a {type(item).__name__}")
        index = _integer(item.get("fact", position))
        if index is None or not 0 <= index < len(facts):
            warnings.append(
                f"reconciliation: decision {position} names fact {item.get('fact')!r}, "
                "which does not exist; it was ignored"
            )
            continue
        if index in chosen:
            warnings.append(
                f"reconciliation: fact {index} got more than one decision; the first was used"
            )
            continue
        event = item.get("event")
        if not isinstance(event, str) or event.strip().upper() not in prompts.EVENTS:
            raise OutputShapeError(
                f"decision {position} has event {event!r}; expected one of "
                + ", ".join(prompts.EVENTS)
            )
        text = item.get("text")
        decision = _checked(
            facts[index],
            index,
            event.strip().upper(),
            item.get("memory"),
            text if isinstance(text, str) else "",
            ids,
            changed,
            warnings,
            max_chars,
        )
        chosen[index] = decision
        if decision.event in _CHANGES and decision.target is not None:
            changed.add(decision.target)
    for index, fact in enumerate(facts):
        if index not in chosen:
            if fact.forget:
                warnings.append(
                    f'reconciliation: no decision for the request to forget "{fact.text}"; '
                    "nothing was deleted"
                )
                chosen[index] = Decision(index, NOOP, None, fact.text)
            else:
                warnings.append(f'reconciliation: no decision for fact "{fact.text}"; it was added')
                chosen[index] = Decision(index, ADD, None, fact.text)
    return [chosen[i] for i in range(len(facts))], warnings


def _checked(
    fact: Fact,
    index: int,
    event: str,
    raw_memory: Any,
    text: str,
    ids: IdMap,
    changed: set[uuid.UUID],
    warnings: list[str],
    max_chars: int,
) -> Decision:
    """One decision held to the rules (see the module docstring)."""
    target: uuid.UUID | None = None
    if raw_memory is not None and raw_memory != "":
        key = _integer(raw_memory)
        target = ids.id_of(key) if key is not None else None
        if target is None:
            metrics.LLM_UNKNOWN_IDS.inc()
            warnings.append(
                f"reconciliation: the {event} decision for fact {index} named memory "
                f"{raw_memory!r}, which was not among the memories shown; it was ignored"
                + (", nothing was deleted" if fact.forget else " and the fact added")
            )
            return Decision(index, NOOP if fact.forget else ADD, None, fact.text)
    if fact.forget:
        if event == DELETE and target is not None and target in changed:
            warnings.append(
                f"reconciliation: memory {ids.key_of(target)} was already changed by another "
                f'decision; the request to forget "{fact.text}" was not applied'
            )
            return Decision(index, NOOP, None, fact.text)
        if event not in (DELETE, NOOP):
            warnings.append(
                f'reconciliation: the request to forget "{fact.text}" was decided as {event}; '
                "requests to forget are never stored, so nothing changed"
            )
            return Decision(index, NOOP, None, fact.text)
        if event == NOOP or target is None:
            # Nothing held what is to be forgotten.
            return Decision(index, NOOP, None, fact.text)
        return Decision(index, DELETE, target, fact.text)
    if event == DELETE:
        # Deleting on a contradiction is how mem0 lost new facts; keep both, in order.
        warnings.append(
            f"reconciliation: fact {index} was decided as DELETE without a request to "
            "forget; it was treated as SUPERSEDE"
        )
        event = SUPERSEDE
    if event in (UPDATE, SUPERSEDE, NOOP) and target is None:
        warnings.append(
            f"reconciliation: the {event} decision for fact {index} named no memory; "
            "the fact was added"
        )
        return Decision(index, ADD, None, fact.text)
    if event in (UPDATE, SUPERSEDE) and target in changed:
        warnings.append(
            f"reconciliation: memory {raw_memory} was already changed by another decision; "
            f"fact {index} was added instead"
        )
        return Decision(index, ADD, None, fact.text)
    if event == UPDATE:
        merged = " ".join(text.split())
        if not merged:
            warnings.append(
                f"reconciliation: the UPDATE decision for fact {index} gave no merged text; "
                "the fact was added"
            )
            return Decision(index, ADD, None, fact.text)
        if len(merged) > max_chars:
            raise OutputShapeError(
                f"the merged text for fact {index} is {len(merged)} characters long; "
                f"the limit is {max_chars}"
            )
        return Decision(index, UPDATE, target, merged)
    # ADD and SUPERSEDE store the fact as extracted: reconciliation decides, it does not
    # rewrite.
    return Decision(index, event, target, fact.text)


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None
