"""AddMemories: a conversation in, memories out, now or as a background operation.

With an LLM, :mod:`.inference.pipeline` extracts and reconciles facts. Without one, each
user message is a memory unless the user already has it (the documented non-LLM path, see
docs/api.md), and the response says that no facts were extracted.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from mem0stack.v1 import memory_pb2
from mem0stack.v1 import memory_service_pb2 as svc
from mem0stack_server.app.embedding import Embeddings
from mem0stack_server.app.idempotency import Idempotency
from mem0stack_server.app.inference.pipeline import InferencePipeline
from mem0stack_server.app.memories import with_embedding
from mem0stack_server.app.operations import Operations
from mem0stack_server.config import Settings
from mem0stack_server.domain.convert import content_hash, from_struct, memory_from_row
from mem0stack_server.domain.errors import Reason, invalid
from mem0stack_server.domain.ids import new_memory_id
from mem0stack_server.domain.records import AddInput, Caller, NewMemory
from mem0stack_server.domain.validation import Validator
from mem0stack_server.obs import metrics
from mem0stack_server.store.memories import Finish, MemoryStore

#: Told in every AddMemories response that asked for inference on a server without an LLM
#: (and logged at start-up): callers used to mem0 expect facts to be extracted.
NO_LLM_WARNING = (
    "no LLM is configured, so the user messages were stored verbatim (deduplicated), "
    "without fact extraction or reconciliation; to extract facts, start the server with "
    "MEM0STACK_LLM_MODEL set (and OPENAI_BASE_URL / OPENAI_API_KEY for the endpoint), "
    "see docs/llm.md; send infer=false to store messages verbatim without this warning"
)


class MemoryAdder:
    """The work of one AddMemories, whether called directly or run as an operation."""

    def __init__(
        self,
        settings: Settings,
        store: MemoryStore,
        embeddings: Embeddings,
        pipeline: InferencePipeline | None,
    ) -> None:
        """``pipeline`` is the LLM path; ``None`` keeps the documented path without one."""
        self.settings = settings
        self.store = store
        self.embeddings = embeddings
        self.pipeline = pipeline
        self.validate = Validator(settings)

    async def run(
        self,
        user_id: str,
        req: svc.AddMemoriesRequest,
        caller: Caller,
        finish: Finish | None = None,
    ) -> svc.AddMemoriesResponse:
        """Do the work of one AddMemories (now, or as a background operation).

        ``finish`` runs inside the transaction of the changes, with the response. The
        request is checked again: an operation may run on a server with other settings.
        """
        checked = self.check(req)
        if self.pipeline is not None and checked.infer:
            response = await self.pipeline.run(user_id, req, checked, caller, finish)
        else:
            response = await self._without_llm(user_id, req, checked, caller, finish)
        for event in response.events:
            metrics.MEMORY_EVENTS.labels(memory_pb2.MemoryEvent.Type.Name(event.type)).inc()
        return response

    def check(self, req: svc.AddMemoriesRequest) -> AddInput:
        """The request's fields, validated (messages included), or INVALID_ARGUMENT."""
        self.validate.request_id(req.request_id)
        self.validate.item_count(len(req.messages), "messages", self.settings.max_messages)
        for i, msg in enumerate(req.messages):
            self.validate.content(msg.content, f"messages[{i}].content")
            if msg.role not in ("user", "assistant", "system"):
                raise invalid(
                    Reason.INVALID_ARGUMENT,
                    f"messages[{i}].role",
                    "must be user, assistant or system",
                )
        checked = AddInput(
            agent_id=self.validate.scope_id(req.agent_id, "agent_id"),
            run_id=self.validate.scope_id(req.run_id, "run_id"),
            metadata=self.validate.metadata(from_struct(req.metadata), "metadata"),
            categories=self.validate.categories(req.categories, "categories"),
            infer=req.infer if req.HasField("infer") else True,
            memory_type=memory_pb2.Memory.Type.Name(req.memory_type or memory_pb2.Memory.SEMANTIC),
        )
        if self.pipeline is not None and checked.infer:
            if checked.memory_type == "PROCEDURAL" and not checked.agent_id:
                raise invalid(
                    Reason.INVALID_ARGUMENT,
                    "agent_id",
                    "is required with memory_type PROCEDURAL: the summary is the agent's",
                )
            if len(req.instructions) > self.settings.max_content_chars:
                raise invalid(
                    Reason.INVALID_ARGUMENT,
                    "instructions",
                    f"is longer than {self.settings.max_content_chars} characters",
                )
        return checked

    async def _without_llm(
        self,
        user_id: str,
        req: svc.AddMemoriesRequest,
        checked: AddInput,
        caller: Caller,
        finish: Finish | None,
    ) -> svc.AddMemoriesResponse:
        infer = checked.infer
        # Without an LLM, "inference" keeps what the user said: assistant and system turns
        # are context for an LLM, not facts about the user.
        chosen = [m for m in req.messages if m.role == "user"] if infer else list(req.messages)
        news = [
            NewMemory(
                id=new_memory_id(),
                user_id=user_id,
                content=m.content,
                hash=content_hash(m.content),
                embedding=np.empty(0, dtype=np.float32),
                agent_id=checked.agent_id,
                run_id=checked.run_id,
                actor_id=m.name,
                role=m.role,
                memory_type=checked.memory_type,
                metadata=checked.metadata,
                categories=checked.categories,
                event_time=m.time.ToDatetime(UTC) if m.HasField("time") else None,
            )
            for m in chosen
        ]
        vectors = (
            await self.embeddings.documents([n.content for n in news]) if news else np.empty((0, 0))
        )
        news = [with_embedding(n, v) for n, v in zip(news, vectors, strict=True)]
        events: list[memory_pb2.MemoryEvent] = []
        to_insert: list[NewMemory] = []
        if infer:
            for new in news:
                known = await self._duplicate_of(new, to_insert)
                if known is not None:
                    events.append(
                        memory_pb2.MemoryEvent(type=memory_pb2.MemoryEvent.NOOP, memory=known)
                    )
                else:
                    to_insert.append(new)
                    events.append(memory_pb2.MemoryEvent(type=memory_pb2.MemoryEvent.ADD))
        else:
            to_insert = news
            events = [memory_pb2.MemoryEvent(type=memory_pb2.MemoryEvent.ADD) for _ in news]
        now = datetime.now(UTC)
        added = iter(to_insert)
        for event in events:
            if event.type == memory_pb2.MemoryEvent.ADD:
                event.memory.CopyFrom(memory_from_row(next(added).row(now)))
        response = svc.AddMemoriesResponse(
            events=events,
            usage=memory_pb2.TokenUsage(),
            warnings=[NO_LLM_WARNING] if infer else [],
        )
        if to_insert or finish is not None:
            async with self.store.transaction() as conn:
                if to_insert:
                    await self.store.insert(conn, to_insert, now, caller.actor, caller.request_id)
                if finish is not None:
                    await finish(conn, response)
        return response

    async def _duplicate_of(
        self, new: NewMemory, pending: list[NewMemory]
    ) -> memory_pb2.Memory | None:
        """The live memory (or one about to be added) that already says what ``new`` says."""
        threshold = self.settings.dedup_threshold
        for other in pending:
            if other.hash == new.hash or float(np.dot(other.embedding, new.embedding)) >= threshold:
                return memory_from_row(other.row(datetime.now(UTC)))
        (nearest,) = await self.store.nearest_in_scope(
            new.user_id, new.agent_id, new.run_id, new.embedding, 1
        ) or (None,)
        if nearest is not None and (nearest["hash"] == new.hash or nearest["score"] >= threshold):
            return memory_from_row(nearest)
        return None


class AddMemories:
    """The AddMemories method: idempotent, and in ``async_mode`` a background operation."""

    def __init__(
        self, adder: MemoryAdder, operations: Operations, idempotency: Idempotency
    ) -> None:
        self.adder = adder
        self.operations = operations
        self.idempotency = idempotency

    async def add(
        self, user_id: str, req: svc.AddMemoriesRequest, caller: Caller
    ) -> svc.AddMemoriesResponse:
        """AddMemories: validate, then run now or (``async_mode``) queue an operation.

        A retry with the same request_id gets the first answer: the events, or in async mode
        the same operation.
        """
        self.adder.check(req)
        if req.async_mode:
            operations = self.operations

            async def submit() -> svc.AddMemoriesResponse:
                name = await operations.submit(user_id, req, caller)
                return svc.AddMemoriesResponse(operation=name, usage=memory_pb2.TokenUsage())

            return await self.idempotency.run(
                user_id, "AddMemories", req, submit, svc.AddMemoriesResponse
            )

        async def run() -> svc.AddMemoriesResponse:
            return await self.adder.run(user_id, req, caller)

        return await self.idempotency.run(user_id, "AddMemories", req, run, svc.AddMemoriesResponse)
