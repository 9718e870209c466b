"""mem0's ``Memory`` interface, served by a mem0-stack server.

A mem0 user switches by changing an import::

    # from mem0 import Memory
    from mem0stack.compat import Memory

    m = Memory()        # the server at $MEM0STACK_TARGET (else localhost:50051)
    m.add("I prefer window seats", user_id="alice")
    m.search("where does alice sit?", filters={"user_id": "alice"})

Results have mem0's shapes (``{"results": [{"id", "memory", "score", ...}]}``) and ids are
mem0-style UUIDs; mem0's exceptions are in :mod:`mem0stack.compat.exceptions`. What
differs, and why, is written down in docs/clients.md ("mem0 compatibility"); in short: the
LLM, embedder and stores are configured on the server, not in the constructor, and a
memory without a user lives under a reserved user named after its agent or run
(``~agent:{agent_id}``, ``~run:{run_id}``).
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Callable, Coroutine, Generator, Mapping
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar, get_args

from mem0stack._connection import AsyncClosing, Closing
from mem0stack._plans import Call
from mem0stack.aio import AsyncClient
from mem0stack.client import Client
from mem0stack.compat import _mem0 as mem0
from mem0stack.compat._mem0 import Script, Session, filters_to_aip160, memory_item
from mem0stack.compat.exceptions import Mem0StackWarning, from_error
from mem0stack.compat.exceptions import MemoryError as Mem0Error
from mem0stack.errors import Mem0StackError
from mem0stack.options import DEFAULT_TARGET, DEFAULT_TIMEOUT, TLSConfig

__all__ = ["AsyncMemory", "Mem0StackWarning", "Memory", "filters_to_aip160", "memory_item"]

T = TypeVar("T")
P = ParamSpec("P")
F = TypeVar("F", bound=Callable[..., Any])


def _warned(result: T) -> T:
    # Said twice: in the result for code that reads it, and as a Python warning for code
    # written against mem0, which reads only "results" and would otherwise never learn
    # that, for example, no fact was extracted because the server has no LLM. stacklevel 3:
    # the line that called the Memory method.
    if isinstance(result, dict):
        for message in result.get("warnings", ()):
            warnings.warn(message, Mem0StackWarning, stacklevel=3)
    return result


def _made_from(script: Callable[..., Any]) -> Callable[[F], F]:
    """Give a facade method its script's name, docstring and signature, with ``self`` in
    place of the session and the script's return value as the return annotation."""

    def decorate(method: F) -> F:
        signature = inspect.signature(script, eval_str=True)
        _, *parameters = signature.parameters.values()
        own = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
        returns = get_args(signature.return_annotation)
        method.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[own, *parameters], return_annotation=returns[2] if returns else Any
        )
        method.__name__ = method.__qualname__ = script.__name__
        method.__doc__ = script.__doc__
        return method

    return decorate


def _call(
    script: Callable[Concatenate[Session, P], Script[T]],
) -> Callable[Concatenate[Memory, P], T]:
    @_made_from(script)
    def method(self: Memory, /, *args: P.args, **kwargs: P.kwargs) -> T:
        steps = script(self._session, *args, **kwargs)
        try:
            plan: Call[Any] = next(steps)
            while True:
                plan = steps.send(self.client._run(plan))
        except StopIteration as done:
            return _warned(done.value)  # type: ignore[no-any-return]
        except Mem0Error:
            raise  # already mem0's
        except Mem0StackError as error:
            raise from_error(error) from error

    return method


def _acall(
    script: Callable[Concatenate[Session, P], Script[T]],
) -> Callable[Concatenate[AsyncMemory, P], Coroutine[Any, Any, T]]:
    @_made_from(script)
    async def method(self: AsyncMemory, /, *args: P.args, **kwargs: P.kwargs) -> T:
        steps: Generator[Call[Any], Any, T] = script(self._session, *args, **kwargs)
        try:
            plan: Call[Any] = next(steps)
            while True:
                plan = steps.send(await self.client._run(plan))
        except StopIteration as done:
            return _warned(done.value)  # type: ignore[no-any-return]
        except Mem0Error:
            raise  # already mem0's
        except Mem0StackError as error:
            raise from_error(error) from error

    return method


C = TypeVar("C", Client, AsyncClient)


class _Facade(Generic[C]):
    """What Memory and AsyncMemory share: the client, made from arguments, a mem0 config
    or the environment, and the session."""

    _client_type: type[C]

    def __init__(
        self,
        target: str | None = None,
        api_key: str | None = None,
        *,
        config: Any = None,
        tls: bool | TLSConfig | None = None,
        timeout: float | None = None,
        client: C | None = None,
    ) -> None:
        if target is not None and not isinstance(target, str):
            target, config = None, target  # Memory(config), as mem0 takes it
        settings = mem0.settings_from_config(config) if config is not None else mem0.Settings()
        if client is None:
            target = (
                target or settings.target or os.environ.get("MEM0STACK_TARGET") or DEFAULT_TARGET
            )
            if api_key is None:
                api_key = settings.api_key or os.environ.get("MEM0STACK_API_KEY")
            timeout = timeout or settings.timeout or DEFAULT_TIMEOUT
            client = self._client_type(target, api_key, tls=tls, timeout=timeout)
        self.client: C = client
        self._session = Session(mem0.directory(client.target), settings.instructions)

    @classmethod
    def from_config(cls, config_dict: Mapping[str, Any]) -> Self:
        """Build from a mem0 config dict. ``target``, ``api_key``, ``timeout`` say where the
        server is and ``custom_instructions`` is sent with every ``add``; mem0's ``llm``,
        ``embedder``, ``vector_store``, ... are the server's settings, and every such key is
        named in a :class:`Mem0StackWarning` rather than silently ignored."""
        return cls(config=config_dict)


class Memory(_Facade[Client], Closing):
    """mem0's ``Memory`` (``add``, ``search``, ``get``, ``get_all``, ``update``,
    ``delete``, ``delete_all``, ``history``, ``reset``) backed by a mem0-stack server.

    ``target`` and ``api_key`` default to the config's, else ``$MEM0STACK_TARGET`` (else
    localhost:50051) and ``$MEM0STACK_API_KEY``; ``config`` is a mem0 config dict (see
    :meth:`from_config`); ``client`` is a ready :class:`~mem0stack.Client`. Failures raise
    mem0's exception classes (:mod:`mem0stack.compat.exceptions`).
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
    reset = _call(mem0.reset)


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
    reset = _acall(mem0.reset)
