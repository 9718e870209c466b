"""mem0's ``Memory`` interface, served by a mem0-stack server.

A mem0 user switches by changing an import and a constructor::

    # from mem0 import Memory
    # m = Memory()
    from mem0stack.compat import Memory
    m = Memory("localhost:50051")          # or Memory() with MEM0STACK_TARGET set

    m.add("I prefer window seats", user_id="alice")
    m.search("where does alice sit?", user_id="alice")   # or filters={"user_id": "alice"}

Results have mem0's shapes (``{"results": [{"id", "memory", "score", ...}]}``). What
differs, and why, is written down in docs/clients.md ("mem0 compatibility"); in short:
every call needs a ``user_id`` (mem0-stack scopes everything to a user), memory ids are
resource names (``users/alice/memories/<uuid>``), and the LLM, embedder and stores are
configured on the server, not in the constructor.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar

from mem0stack import _mem0 as mem0
from mem0stack._connection import AsyncClosing, Closing
from mem0stack._mem0 import filters_to_aip160, memory_item
from mem0stack._plans import Call, made_from
from mem0stack.aio import AsyncClient
from mem0stack.client import Client
from mem0stack.options import DEFAULT_TARGET, DEFAULT_TIMEOUT, TLSConfig

__all__ = ["AsyncMemory", "Mem0StackWarning", "Memory", "filters_to_aip160", "memory_item"]

T = TypeVar("T")
P = ParamSpec("P")


class Mem0StackWarning(UserWarning):
    """Something the server said about a call that did not fail it (see ``add``)."""


def _warned(result: T) -> T:
    # Said twice: in the result for code that reads it, and as a Python warning for code
    # written against mem0, which reads only "results" and would otherwise never learn
    # that, for example, no fact was extracted because the server has no LLM. stacklevel 3:
    # the line that called the Memory method.
    if isinstance(result, dict):
        for message in result.get("warnings", ()):
            warnings.warn(message, Mem0StackWarning, stacklevel=3)
    return result


def _call(builder: Callable[P, Call[T]]) -> Callable[Concatenate[Memory, P], T]:
    @made_from(builder, lambda result: result)
    def method(self: Memory, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return _warned(self.client._run(builder(*args, **kwargs)))

    return method


def _acall(
    builder: Callable[P, Call[T]],
) -> Callable[Concatenate[AsyncMemory, P], Coroutine[Any, Any, T]]:
    @made_from(builder, lambda result: result)
    async def method(self: AsyncMemory, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return _warned(await self.client._run(builder(*args, **kwargs)))

    return method


C = TypeVar("C", Client, AsyncClient)


class _Facade(Generic[C]):
    """What Memory and AsyncMemory share: the client, made from arguments or environment."""

    _client_type: type[C]

    def __init__(
        self,
        target: str | None = None,
        api_key: str | None = None,
        *,
        tls: bool | TLSConfig | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        client: C | None = None,
    ) -> None:
        if client is None:
            target = target or os.environ.get("MEM0STACK_TARGET") or DEFAULT_TARGET
            if api_key is None:
                api_key = os.environ.get("MEM0STACK_API_KEY")
            client = self._client_type(target, api_key, tls=tls, timeout=timeout)
        self.client: C = client

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        """Build from a dict with ``target``, ``api_key`` and ``timeout``. mem0's ``llm``,
        ``embedder`` and ``vector_store`` sections are configured on the server instead and
        are ignored here."""
        return cls(
            config.get("target"),
            config.get("api_key"),
            timeout=config.get("timeout", DEFAULT_TIMEOUT),
        )


class Memory(_Facade[Client], Closing):
    """mem0's ``Memory`` (``add``, ``search``, ``get``, ``get_all``, ``update``,
    ``delete``, ``delete_all``, ``history``) backed by a mem0-stack server.

    ``target`` and ``api_key`` default to ``$MEM0STACK_TARGET`` (else localhost:50051)
    and ``$MEM0STACK_API_KEY``; ``client`` is a ready :class:`~mem0stack.Client`.
    """

    _client_type = Client

    def close(self) -> None:
        self.client.close()

    add = _call(mem0.add)
    get = _call(mem0.get)
    get_all = _call(mem0.get_all)
    search = _call(mem0.search)
    update = _call(mem0.update)
    delete = _call(mem0.delete)
    delete_all = _call(mem0.delete_all)
    history = _call(mem0.history)


class AsyncMemory(_Facade[AsyncClient], AsyncClosing):
    """mem0's ``AsyncMemory``: :class:`Memory` for asyncio code."""

    _client_type = AsyncClient

    async def close(self) -> None:
        await self.client.close()

    add = _acall(mem0.add)
    get = _acall(mem0.get)
    get_all = _acall(mem0.get_all)
    search = _acall(mem0.search)
    update = _acall(mem0.update)
    delete = _acall(mem0.delete)
    delete_all = _acall(mem0.delete_all)
    history = _acall(mem0.history)
