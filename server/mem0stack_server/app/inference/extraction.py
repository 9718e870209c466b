"""Step 1 of AddMemories with an LLM: a conversation in, self-contained facts out.

Also the procedural variant: one summary of an agent's run. The answers are checked here
(``parse_facts``, ``parse_summary``); an answer of the wrong shape is an OutputShapeError,
which the client sends back to the model once and then reports as LLM_OUTPUT_INVALID. A
fact is never dropped quietly: a fact-like item that cannot be read fails the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mem0stack_server.app.inference import prompts
from mem0stack_server.llm import JsonTask, LLMClient, OutputShapeError, Usage


@dataclass(frozen=True)
class Turn:
    """One message of the conversation, as the prompts need it."""

    role: str
    content: str
    name: str = ""
    time: datetime | None = None


@dataclass(frozen=True)
class Fact:
    """One extracted fact.

    ``subject`` is "user" or "agent"; ``forget`` marks a request to forget it (never
    stored); ``message`` is the index of the turn it came from, when the model said so;
    ``valid_from`` is when the fact became true, when the conversation states it.
    """

    text: str
    subject: str = "user"
    forget: bool = False
    categories: tuple[str, ...] = ()
    message: int | None = None
    valid_from: datetime | None = None


@dataclass(frozen=True)
class ExtractionOptions:
    categories: Sequence[str]
    agent_facts: bool
    deployment_instructions: str
    request_instructions: str
    max_chars: int


async def extract_facts(
    llm: LLMClient,
    usage: Usage,
    turns: Sequence[Turn],
    reference_time: datetime,
    options: ExtractionOptions,
) -> list[Fact]:
    """Ask the LLM for the facts of a conversation (one request, plus a repair if needed)."""
    task = JsonTask(
        name="extract_facts",
        description="Report the facts to remember from the conversation.",
        system=prompts.extraction_system(
            categories=options.categories,
            agent_facts=options.agent_facts,
            deployment_instructions=options.deployment_instructions,
            request_instructions=options.request_instructions,
        ),
        user=prompts.transcript(
            [(t.role, t.name, t.content, t.time) for t in turns], reference_time
        ),
        schema=prompts.extraction_schema(options.categories),
        repair_prompt=prompts.REPAIR,
    )

    def validate(data: Any) -> list[Fact]:
        return parse_facts(
            data,
            turns=len(turns),
            categories=options.categories,
            max_chars=options.max_chars,
        )

    return await llm.complete_json(task, usage, validate)


def parse_facts(data: Any, *, turns: int, categories: Sequence[str], max_chars: int) -> list[Fact]:
    """Facts from the parsed answer, lenient where the meaning is clear.

    Accepted besides the schema: a bare list instead of ``{"facts": [...]}``; facts as
    plain strings (mem0's own format, which many models have learned); "subject" and
    "forget" missing (user, false); unknown categories (dropped: categories are labels,
    not facts); a "message" number out of range (ignored); "valid_from" missing, or not a
    YYYY-MM-DD or YYYY-MM date (no stated date: the message time stands in).
    """
    items = data.get("facts") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise OutputShapeError('expected {"facts": [...]} with a list of facts')
    allowed = set(categories)
    facts: list[Fact] = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            item = {"text": item}
        if not isinstance(item, dict):
            raise OutputShapeError(f"fact {i} is a {type(item).__name__}, not an object")
        text = item.get("text", item.get("fact"))
        if not isinstance(text, str):
            raise OutputShapeError(f'fact {i} has no "text" string')
        text = " ".join(text.split())
        if not text:
            continue  # an empty item says nothing; there is no fact to lose
        if len(text) > max_chars:
            raise OutputShapeError(
                f"fact {i} is {len(text)} characters long; the limit is {max_chars}"
            )
        subject = item.get("subject", "user")
        subject = "agent" if isinstance(subject, str) and subject.lower() == "agent" else "user"
        forget = item.get("forget", False)
        if isinstance(forget, str):
            forget = forget.strip().lower() == "true"
        raw_categories = item.get("categories") or []
        if isinstance(raw_categories, str):
            raw_categories = [raw_categories]
        chosen: list[str] = []
        if isinstance(raw_categories, list):
            for category in raw_categories:
                if isinstance(category, str) and category in allowed and category not in chosen:
                    chosen.append(category)
        message = item.get("message")
        if isinstance(message, str) and message.strip().isdigit():
            message = int(message)
        if not isinstance(message, int) or isinstance(message, bool) or not 0 <= message < turns:
            message = None
        valid_from = _stated_date(item.get("valid_from"))
        facts.append(Fact(text, subject, bool(forget), tuple(chosen), message, valid_from))
    return facts


def _stated_date(value: Any) -> datetime | None:
    """A stated YYYY-MM-DD (or YYYY-MM, the month's first day) as midnight UTC.

    A date that does not parse is dropped rather than failing the answer: the fact itself
    is fine, and its message time is a sound stand-in for when it became true.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    for pattern in ("%Y-%m-%d", "%Y-%m"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


async def summarize_run(
    llm: LLMClient, usage: Usage, turns: Sequence[Turn], reference_time: datetime, max_chars: int
) -> str:
    """The procedural memory of an agent's run: one summary text."""
    task = JsonTask(
        name="summarize_run",
        description="Report the procedural summary of the agent's run.",
        system=prompts.PROCEDURAL_SYSTEM,
        user=prompts.transcript(
            [(t.role, t.name, t.content, t.time) for t in turns], reference_time
        ),
        schema=prompts.PROCEDURAL_SCHEMA,
        repair_prompt=prompts.REPAIR,
    )

    def validate(data: Any) -> str:
        return parse_summary(data, max_chars)

    return await llm.complete_json(task, usage, validate)


def parse_summary(data: Any, max_chars: int) -> str:
    summary = data.get("summary") if isinstance(data, dict) else None
    if not isinstance(summary, str) or not summary.strip():
        raise OutputShapeError('expected {"summary": "..."} with a non-empty summary')
    summary = summary.strip()
    if len(summary) > max_chars:
        raise OutputShapeError(
            f"the summary is {len(summary)} characters long; the limit is {max_chars}"
        )
    return summary
