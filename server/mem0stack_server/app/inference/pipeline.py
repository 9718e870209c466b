"""AddMemories with an LLM: extract, retrieve, reconcile, then commit everything at once.

1. Extraction (one LLM request) turns the conversation into facts; with memory_type
   PROCEDURAL, one summary of the agent's run instead.
2. Each fact is embedded, and the closest live memories of the same scope are fetched in
   one query.
3. Facts whose exact text is already stored are NOOPs, and facts with no similar memory are
   ADDs, without asking the LLM. The rest go to one reconciliation request, which decides
   ADD, UPDATE, SUPERSEDE, DELETE or NOOP for all of them together.
4. All changes, with their revisions, commit in one PostgreSQL transaction. The memories
   the decisions touch are locked and checked to be unchanged since they were read; if
   another call changed one meanwhile, retrieval and reconciliation run once more (a
   second conflict is CONCURRENT_CHANGE and nothing is written).

An LLM call costs 1 request for extraction (or the summary), plus 1 for reconciliation when
some fact has similar memories, plus 1 per repair of an unparseable answer.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import asyncpg
import numpy as np

from mem0stack.v1 import memory_pb2
from mem0stack.v1 import memory_service_pb2 as svc
from mem0stack_server.app.inference import reconcile
from mem0stack_server.app.inference.extraction import (
    ExtractionOptions,
    Fact,
    Turn,
    extract_facts,
    summarize_run,
)
from mem0stack_server.app.inference.reconcile import ADD, DELETE, NOOP, SUPERSEDE, UPDATE, Decision
from mem0stack_server.app.usage import UsageMeter
from mem0stack_server.config import Settings
from mem0stack_server.domain.convert import content_hash, memory_from_row
from mem0stack_server.domain.errors import Code, DomainError, Reason, unavailable
from mem0stack_server.domain.ids import new_memory_id
from mem0stack_server.domain.names import memory_name
from mem0stack_server.domain.records import AddInput, Caller, NewMemory, Revision
from mem0stack_server.domain.validation import MAX_CATEGORIES
from mem0stack_server.llm import LLMClient, LLMOutputError, LLMUnavailableError, Usage
from mem0stack_server.store.memories import Finish, MemoryStore

log = logging.getLogger(__name__)

Embed = Callable[[list[str]], Awaitable[np.ndarray]]
# Graph memory's hook (app/graph/__init__.py): called inside the same transaction with the
# user, the conversation, its reference time and the events, to queue the graph update.
GraphHook = Callable[
    [asyncpg.Connection, str, Sequence[Turn], datetime, Sequence[memory_pb2.MemoryEvent]],
    Awaitable[object],
]

_ATTEMPTS = 2


class _ConflictError(Exception):
    """A memory a decision touches changed after it was read."""


@dataclass(frozen=True)
class _Call:
    """One AddMemories call as the pipeline sees it."""

    user_id: str
    turns: list[Turn]
    # The request's reference_time, if it had one; ``reference`` is it or the call's time.
    given_reference: datetime | None
    reference: datetime
    checked: AddInput
    caller: Caller
    finish: Finish | None
    usage: Usage


@dataclass
class _Plan:
    facts: list[Fact]
    vectors: np.ndarray
    decisions: list[Decision]
    # Every existing memory the decisions name, as read before deciding.
    seen: dict[uuid.UUID, asyncpg.Record]
    warnings: list[str]


class InferencePipeline:
    """The LLM path of AddMemories (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        store: MemoryStore,
        embed: Embed,
        llm: LLMClient,
        graph_hook: GraphHook | None = None,
        *,
        usage: UsageMeter | None = None,
    ) -> None:
        """``graph_hook`` queues the graph update of each call (when graph memory is on)."""
        self.settings = settings
        self.store = store
        self.embed = embed
        self.llm = llm
        self.graph_hook = graph_hook
        self.usage = usage

    async def run(
        self,
        user_id: str,
        req: svc.AddMemoriesRequest,
        checked: AddInput,
        caller: Caller,
        finish: Finish | None = None,
    ) -> svc.AddMemoriesResponse:
        usage = Usage()
        try:
            return await self._run(user_id, req, checked, caller, finish, usage)
        except LLMUnavailableError as exc:
            raise unavailable(
                Reason.LLM_UNAVAILABLE, f"{exc}; nothing was written", exc.retry_after_s
            ) from exc
        except LLMOutputError as exc:
            raise DomainError(
                Code.FAILED_PRECONDITION,
                Reason.LLM_OUTPUT_INVALID,
                f"{exc}; nothing was written (the server's debug log has the answer)",
                model=exc.model,
                purpose=exc.purpose,
                prompt_tokens=str(usage.prompt_tokens),
                completion_tokens=str(usage.completion_tokens),
                llm_calls=str(usage.calls),
            ) from exc
        finally:
            if self.usage is not None:  # tokens are spent whether or not the call succeeds
                self.usage.used_llm(user_id, usage)

    async def _run(
        self,
        user_id: str,
        req: svc.AddMemoriesRequest,
        checked: AddInput,
        caller: Caller,
        finish: Finish | None,
        usage: Usage,
    ) -> svc.AddMemoriesResponse:
        given_reference = (
            req.reference_time.ToDatetime(UTC) if req.HasField("reference_time") else None
        )
        call = _Call(
            user_id=user_id,
            turns=[
                Turn(
                    m.role,
                    m.content,
                    m.name,
                    m.time.ToDatetime(UTC) if m.HasField("time") else None,
                )
                for m in req.messages
            ],
            given_reference=given_reference,
            reference=given_reference or datetime.now(UTC),
            checked=checked,
            caller=caller,
            finish=finish,
            usage=usage,
        )
        if checked.memory_type == "PROCEDURAL":
            return await self._procedural(call)
        s = self.settings
        facts = await extract_facts(
            self.llm,
            usage,
            call.turns,
            call.reference,
            ExtractionOptions(
                categories=s.llm_categories,
                agent_facts=s.llm_extract_agent_facts and bool(checked.agent_id),
                deployment_instructions=s.llm_instructions,
                request_instructions=req.instructions,
                max_chars=s.max_content_chars,
            ),
        )
        facts = _distinct(facts)
        if not facts:
            nothing = _Plan([], np.empty((0, 0)), [], {}, [])
            return await self._commit(
                call, nothing, ["the LLM found no facts worth remembering in the conversation"]
            )
        vectors = await self.embed([f.text for f in facts])
        for attempt in range(_ATTEMPTS):
            plan = await self._plan(user_id, checked, facts, vectors, usage)
            try:
                return await self._commit(call, plan, [])
            except _ConflictError:
                log.info("memories changed while reconciling; deciding again")
                if attempt + 1 == _ATTEMPTS:
                    raise DomainError(
                        Code.ABORTED,
                        Reason.CONCURRENT_CHANGE,
                        "memories of this scope changed while this call was reconciling "
                        "with them; nothing was written, retry the call",
                    ) from None
        raise AssertionError("unreachable")

    async def _plan(
        self,
        user_id: str,
        checked: AddInput,
        facts: list[Fact],
        vectors: np.ndarray,
        usage: Usage,
    ) -> _Plan:
        s = self.settings
        candidates = await self.store.similar_in_scope(
            user_id,
            checked.agent_id,
            checked.run_id,
            list(vectors),
            s.llm_candidates,
            s.llm_candidate_min_score,
        )
        decisions: list[Decision | None] = [None] * len(facts)
        seen: dict[uuid.UUID, asyncpg.Record] = {}
        warnings: list[str] = []
        ask: list[int] = []
        for i, (fact, rows) in enumerate(zip(facts, candidates, strict=True)):
            same = next((r for r in rows if _norm(r["content"]) == _norm(fact.text)), None)
            if same is not None and not fact.forget:
                decisions[i] = Decision(i, NOOP, same["id"], fact.text)
                seen[same["id"]] = same
            elif rows:
                ask.append(i)
            elif fact.forget:
                warnings.append(f'no memory matches the request to forget "{fact.text}"')
                decisions[i] = Decision(i, NOOP, None, fact.text)
            else:
                decisions[i] = Decision(i, ADD, None, fact.text)
        if ask:
            shown: dict[uuid.UUID, asyncpg.Record] = {}
            for i in ask:
                for row in candidates[i]:
                    shown.setdefault(row["id"], row)
            decided, found = await reconcile.decide(
                self.llm,
                usage,
                [facts[i] for i in ask],
                [(memory_id, row["content"]) for memory_id, row in shown.items()],
                s.max_content_chars,
            )
            warnings += found
            for decision in decided:
                index = ask[decision.fact]
                decisions[index] = replace(decision, fact=index)
                if decision.target is not None:
                    seen[decision.target] = shown[decision.target]
        return _Plan(facts, vectors, [d for d in decisions if d is not None], seen, warnings)

    async def _commit(
        self, call: _Call, plan: _Plan, warnings: list[str]
    ) -> svc.AddMemoriesResponse:
        """Apply the decisions in one transaction and describe them as events."""
        merged_texts = [d.text for d in plan.decisions if d.event == UPDATE]
        merged_vectors: Iterator[np.ndarray] = iter(
            await self.embed(merged_texts) if merged_texts else []
        )
        news: dict[int, NewMemory] = {}
        for d in plan.decisions:
            if d.event in (ADD, SUPERSEDE):
                fact, vector = plan.facts[d.fact], plan.vectors[d.fact]
                news[d.fact] = self._new_memory(call, fact, vector)
        targets = [d.target for d in plan.decisions if d.target is not None]
        changing = [
            d.target
            for d in plan.decisions
            if d.event in (UPDATE, SUPERSEDE, DELETE) and d.target is not None
        ]
        now = datetime.now(UTC)
        user_id, usage = call.user_id, call.usage
        actor, request_id = call.caller.actor, call.caller.request_id
        events: list[memory_pb2.MemoryEvent] = []
        async with self.store.transaction() as conn:
            current = await self.store.lock_for_change(conn, user_id, targets) if targets else {}
            for memory_id in changing:
                row, before = current.get(memory_id), plan.seen[memory_id]
                if row is None or row["version"] != before["version"] or row["state"] != "ACTIVE":
                    raise _ConflictError(memory_id)
            if news:
                await self.store.insert(conn, list(news.values()), now, actor, request_id)
            final: dict[uuid.UUID, Any] = dict(current)
            for d in plan.decisions:
                event = memory_pb2.MemoryEvent(type=memory_pb2.MemoryEvent.Type.Value(d.event))
                if d.event in (ADD, SUPERSEDE):
                    new = news[d.fact]
                    event.memory.CopyFrom(memory_from_row(new.row(now)))
                if d.target is None:
                    events.append(event)
                    continue
                old = current[d.target] if d.target in current else plan.seen[d.target]
                if d.event == UPDATE:
                    categories = _merge(old["categories"], plan.facts[d.fact].categories)
                    updated = await self.store.update(
                        conn,
                        user_id,
                        d.target,
                        {
                            "content": d.text,
                            "hash": content_hash(d.text),
                            "embedding": next(merged_vectors),
                            "categories": categories,
                        },
                        now,
                    )
                    await self.store.record(
                        conn,
                        [
                            Revision(
                                d.target,
                                user_id,
                                "UPDATE",
                                content_before=old["content"],
                                content_after=updated["content"],
                                metadata_before=old["metadata"],
                                metadata_after=updated["metadata"],
                            )
                        ],
                        actor,
                        request_id,
                    )
                    final[d.target] = updated
                    event.memory.CopyFrom(memory_from_row(updated))
                    event.previous_content = old["content"]
                elif d.event == SUPERSEDE:
                    final[d.target] = await self.store.supersede(
                        conn, user_id, d.target, news[d.fact].id, now, actor, request_id
                    )
                    event.previous_content = old["content"]
                    event.superseded_memory = memory_name(user_id, d.target)
                elif d.event == DELETE:
                    await self.store.delete_ids(conn, user_id, [d.target], actor, request_id)
                    event.memory.CopyFrom(memory_from_row(old))
                    event.previous_content = old["content"]
                events.append(event)
            # A NOOP shows the memory that holds the fact as this call left it.
            for d, event in zip(plan.decisions, events, strict=True):
                if d.event == NOOP and d.target is not None:
                    event.memory.CopyFrom(memory_from_row(final.get(d.target, plan.seen[d.target])))
            response = svc.AddMemoriesResponse(
                events=events,
                usage=memory_pb2.TokenUsage(
                    prompt_tokens=usage.prompt_tokens,
                    completion_tokens=usage.completion_tokens,
                    llm_calls=usage.calls,
                ),
                warnings=[*warnings, *plan.warnings],
            )
            if self.graph_hook is not None:
                reference = call.given_reference or now
                await self.graph_hook(conn, user_id, call.turns, reference, events)
            if call.finish is not None:
                await call.finish(conn, response)
        return response

    async def _procedural(self, call: _Call) -> svc.AddMemoriesResponse:
        usage, turns, reference, checked = call.usage, call.turns, call.reference, call.checked
        summary = await summarize_run(
            self.llm, usage, turns, reference, self.settings.max_content_chars
        )
        vector = (await self.embed([summary]))[0]
        last_time = next((t.time for t in reversed(turns) if t.time is not None), None)
        new = NewMemory(
            id=new_memory_id(),
            user_id=call.user_id,
            content=summary,
            hash=content_hash(summary),
            embedding=vector,
            agent_id=checked.agent_id,
            run_id=checked.run_id,
            role="assistant",
            memory_type="PROCEDURAL",
            metadata=checked.metadata,
            categories=checked.categories,
            event_time=last_time or reference,
        )
        now = datetime.now(UTC)
        response = svc.AddMemoriesResponse(
            events=[
                memory_pb2.MemoryEvent(
                    type=memory_pb2.MemoryEvent.ADD, memory=memory_from_row(new.row(now))
                )
            ],
            usage=memory_pb2.TokenUsage(
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                llm_calls=usage.calls,
            ),
        )
        async with self.store.transaction() as conn:
            await self.store.insert(conn, [new], now, call.caller.actor, call.caller.request_id)
            if call.finish is not None:
                await call.finish(conn, response)
        return response

    def _new_memory(self, call: _Call, fact: Fact, vector: np.ndarray) -> NewMemory:
        checked = call.checked
        source = call.turns[fact.message] if fact.message is not None else None
        return NewMemory(
            id=new_memory_id(),
            user_id=call.user_id,
            content=fact.text,
            hash=content_hash(fact.text),
            embedding=vector,
            agent_id=checked.agent_id,
            run_id=checked.run_id,
            actor_id=source.name if source is not None else "",
            role="assistant" if fact.subject == "agent" else "user",
            memory_type=checked.memory_type,
            metadata=checked.metadata,
            categories=_merge(fact.categories, checked.categories),
            event_time=(source.time if source is not None else None) or call.given_reference,
            # Stated in the conversation; else the event time (NewMemory.valid_from).
            valid_time=fact.valid_from,
        )


def _norm(text: str) -> str:
    """Text compared for "already stored, word for word": case, spacing, final stop."""
    return " ".join(text.split()).rstrip(".!。").casefold()


def _distinct(facts: list[Fact]) -> list[Fact]:
    """One fact per text: a model repeating a fact must not make it an ADD and a NOOP."""
    kept: dict[tuple[str, bool], Fact] = {}
    for fact in facts:
        key = (_norm(fact.text), fact.forget)
        if key in kept:
            first = kept[key]
            kept[key] = replace(first, categories=tuple(_merge(first.categories, fact.categories)))
        else:
            kept[key] = fact
    return list(kept.values())


def _merge(first: Sequence[str], second: Sequence[str]) -> list[str]:
    return list(dict.fromkeys([*first, *second]))[:MAX_CATEGORIES]
