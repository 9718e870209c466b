"""The chat-completions client: one place for timeouts, retries, the breaker and token counts.

It speaks the OpenAI chat-completions API through the ``openai`` package, so it reaches
OpenAI, Azure OpenAI, Ollama, vLLM, llama.cpp's server and anything else compatible. The
package's own retries are off: retries happen here, so each one is counted, shows in the
metrics, informs the circuit breaker and stays inside the caller's deadline.

Every request asks for JSON. How depends on ``structured_output``: ``json_schema``
(structured outputs: the server constrains decoding to the schema), ``json_object`` (any
JSON), ``tools`` (a forced function call whose arguments follow the schema) or ``off`` (the
prompt alone). ``auto`` starts with ``json_schema`` and steps down when the endpoint rejects
it with a 4xx that names the feature, remembering the step for later calls. Whatever comes
back is parsed tolerantly (``parse.py``), validated by the caller, and sent back once to be
fixed if it is broken.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from mem0stack_server.config import Settings
from mem0stack_server.context import deadline_var, time_left
from mem0stack_server.llm.breaker import BreakerState, CircuitBreaker, CircuitOpenError
from mem0stack_server.llm.errors import (
    LLMConfigError,
    LLMOutputError,
    LLMUnavailableError,
    OutputShapeError,
)
from mem0stack_server.llm.parse import JSONParseError, parse_json
from mem0stack_server.obs import metrics, tracing

# The openai package costs ~26 MiB of resident memory (its many pydantic models) and
# about a second of start-up, and a server without an LLM
# never builds this client: the functions that need it import it
# themselves (after the first time, a lookup in sys.modules).
if TYPE_CHECKING:
    import openai

log = logging.getLogger(__name__)

T = TypeVar("T")

OPENAI_URL = "https://api.openai.com/v1"
_MODES = ("json_schema", "json_object", "tools", "off")
# The next, more permissive request style to try when an endpoint rejects one.
_DOWNGRADE = {"json_schema": "json_object", "json_object": "off"}
# Words in a 400/422 that say the endpoint does not do structured output (as opposed to,
# say, a prompt that is too long, which no downgrade would fix).
_FORMAT_WORDS = ("response_format", "json_schema", "json_object", "structured", "schema")
# A retry this close to the caller's deadline could not finish anyway.
_MIN_USEFUL_S = 0.05


@dataclass(frozen=True)
class LLMConfig:
    """Everything the client needs; built from Settings by ``from_settings``."""

    model: str
    base_url: str | None = None
    api_key: str | None = None
    api_version: str | None = None
    temperature: float | None = 0.0
    max_tokens: int | None = None
    timeout_s: float = 60.0
    max_retries: int = 3
    backoff_base_s: float = 0.5
    backoff_max_s: float = 20.0
    max_concurrency: int = 4
    breaker_failures: int = 5
    breaker_reset_s: float = 30.0
    structured_output: str = "auto"
    repair_attempts: int = 1


@dataclass
class Usage:
    """Tokens and requests of one API call (one AddMemories), summed over LLM requests."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0

    def add(self, prompt_tokens: int, completion_tokens: int) -> None:
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        self.calls += 1


@dataclass(frozen=True)
class JsonTask:
    """One request for JSON: prompts, the schema the answer must follow, and its name.

    ``name`` names the schema for the endpoint (structured outputs, tool name) and labels
    the metrics. ``repair_prompt`` is sent after an unparseable answer.
    """

    name: str
    system: str
    user: str
    schema: dict[str, Any]
    repair_prompt: str
    description: str = ""
    extra_messages: tuple[dict[str, str], ...] = field(default=())


@dataclass(frozen=True)
class _Answer:
    text: str
    finish_reason: str
    refusal: str


class LLMClient:
    """An OpenAI-compatible chat endpoint with retries, a circuit breaker and a concurrency cap."""

    def __init__(
        self,
        config: LLMConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if not config.model:
            raise LLMConfigError("the LLM needs a model name")
        if config.structured_output not in (*_MODES, "auto"):
            raise LLMConfigError(f"unknown structured_output {config.structured_output!r}")
        if config.timeout_s <= 0 or config.max_retries < 0 or config.max_concurrency < 1:
            raise LLMConfigError(
                "llm_timeout_s and llm_max_concurrency must be positive, "
                "llm_max_retries non-negative"
            )
        self.config = config
        self.model = config.model
        self._client = _make_client(config)
        self._sleep = sleep
        self._jitter = jitter
        self._slots = asyncio.Semaphore(config.max_concurrency)
        self.breaker = CircuitBreaker(
            config.breaker_failures,
            config.breaker_reset_s,
            clock=clock,
            on_change=_breaker_changed,
        )
        metrics.LLM_CIRCUIT_STATE.set(BreakerState.CLOSED)
        self._auto = config.structured_output == "auto"
        self._mode = "json_schema" if self._auto else config.structured_output
        self._send_temperature = True

    @property
    def endpoint(self) -> str:
        """The resolved base URL (it may come from OPENAI_BASE_URL)."""
        return str(self._client.base_url).rstrip("/")

    async def complete_json(self, task: JsonTask, usage: Usage, validate: Callable[[Any], T]) -> T:
        """Ask for JSON following ``task.schema`` and return ``validate(parsed answer)``.

        ``validate`` raises OutputShapeError when the JSON lacks what the caller needs. A
        broken answer is sent back with ``task.repair_prompt`` up to ``repair_attempts``
        times; after that LLMOutputError. Endpoint failures raise LLMUnavailableError.
        Every request that got an answer is added to ``usage``.
        """
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": task.system},
            *task.extra_messages,
            {"role": "user", "content": task.user},
        ]
        attempts = 1 + max(0, self.config.repair_attempts)
        for attempt in range(attempts):
            answer = await self._complete(task, messages, usage)
            if answer.refusal:
                raise LLMOutputError(
                    f"model {self.model!r} refused the {task.name} request: {answer.refusal}",
                    model=self.model,
                    purpose=task.name,
                    raw=answer.refusal,
                )
            try:
                result = validate(parse_json(answer.text))
            except (JSONParseError, OutputShapeError) as exc:
                problem = str(exc)
                if answer.finish_reason == "length":
                    problem += " (the answer was cut off at the token limit)"
                log.warning(
                    "unusable LLM answer",
                    extra={
                        "model": self.model,
                        "purpose": task.name,
                        "problem": problem,
                        "attempt": attempt + 1,
                    },
                )
                # The raw text holds conversation content: debug level only.
                log.debug(
                    "unusable LLM answer text",
                    extra={"model": self.model, "purpose": task.name, "raw": answer.text},
                )
                if attempt + 1 < attempts:
                    messages = [
                        *messages,
                        {"role": "assistant", "content": answer.text},
                        {"role": "user", "content": task.repair_prompt.format(problem=problem)},
                    ]
                    continue
                if attempt > 0:
                    metrics.LLM_OUTPUT_REPAIRS.labels(task.name, "failed").inc()
                metrics.LLM_OUTPUT_INVALID.labels(task.name).inc()
                raise LLMOutputError(
                    f"model {self.model!r} answered the {task.name} request with output that "
                    f"could not be used: {problem}",
                    model=self.model,
                    purpose=task.name,
                    raw=answer.text,
                ) from exc
            if attempt > 0:
                metrics.LLM_OUTPUT_REPAIRS.labels(task.name, "fixed").inc()
            return result
        raise AssertionError("unreachable")

    async def _complete(
        self, task: JsonTask, messages: list[dict[str, Any]], usage: Usage
    ) -> _Answer:
        """One answer, stepping down the structured-output style if the endpoint needs it."""
        import openai

        while True:
            mode = self._mode
            try:
                response = await self._send(task, self._request(task, messages, mode))
            except openai.APIStatusError as exc:
                if exc.status_code in (400, 422) and self._adapt(exc, mode):
                    continue
                raise LLMUnavailableError(
                    self._describe(exc), retry_after_s=self.config.breaker_reset_s
                ) from exc
            counted = response.usage
            prompt = counted.prompt_tokens if counted else 0
            completion = counted.completion_tokens if counted else 0
            usage.add(prompt, completion)
            metrics.LLM_TOKENS.labels("prompt").inc(prompt)
            metrics.LLM_TOKENS.labels("completion").inc(completion)
            if not response.choices:
                return _Answer("", "", "")
            choice = response.choices[0]
            message = choice.message
            text = message.content or ""
            if message.tool_calls:
                call = message.tool_calls[0]
                function = getattr(call, "function", None)
                if function is not None and function.arguments:
                    text = function.arguments
            return _Answer(text, choice.finish_reason or "", message.refusal or "")

    def _adapt(self, exc: openai.APIStatusError, mode: str) -> bool:
        """Change the request after a 400/422 it can fix; True to send it again."""
        text = _error_text(exc).lower()
        if self._send_temperature and "temperature" in text:
            # Reasoning models accept only their default temperature.
            self._send_temperature = False
            log.warning(
                "the LLM endpoint rejects temperature; leaving it out",
                extra={"model": self.model},
            )
            return True
        if not self._auto or not any(word in text for word in _FORMAT_WORDS):
            return False
        if mode != self._mode:  # a concurrent call has stepped down already
            return True
        if mode in _DOWNGRADE:
            self._mode = _DOWNGRADE[mode]
            log.warning(
                "the LLM endpoint rejects this structured-output style; stepping down",
                extra={"model": self.model, "rejected": mode, "now": self._mode},
            )
            return True
        return False

    def _request(self, task: JsonTask, messages: list[dict[str, Any]], mode: str) -> dict[str, Any]:
        request: dict[str, Any] = {"model": self.model, "messages": messages}
        if self._send_temperature:
            request["temperature"] = self.config.temperature
        if self.config.max_tokens is not None:
            request["max_tokens"] = self.config.max_tokens
        if mode == "json_schema":
            request["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": task.name, "schema": task.schema, "strict": True},
            }
        elif mode == "json_object":
            request["response_format"] = {"type": "json_object"}
        elif mode == "tools":
            request["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": task.name,
                        "description": task.description or task.name,
                        "parameters": task.schema,
                        "strict": True,
                    },
                }
            ]
            request["tool_choice"] = {"type": "function", "function": {"name": task.name}}
        return request

    async def _send(self, task: JsonTask, request: dict[str, Any]) -> Any:
        """POST one request, retrying 429, 5xx, timeouts and connection errors."""
        retry = 0
        while True:
            retry_after: float | None = None
            try:
                async with self._slots:
                    self.breaker.before_request()
                    outcome, retry_after = await self._attempt(task, request)
            except CircuitOpenError as exc:
                metrics.LLM_REQUESTS.labels(task.name, "circuit_open").inc()
                wait: float = exc.retry_after_s
                raise LLMUnavailableError(
                    f"the LLM endpoint {self.endpoint} is failing; its circuit breaker is open "
                    f"(retry in {wait:.1f}s)",
                    retry_after_s=wait,
                ) from exc
            if not isinstance(outcome, _Failure):
                return outcome
            failure = outcome
            delay = self._delay(retry, retry_after)
            remaining = _seconds_left()
            if retry >= self.config.max_retries or (
                remaining is not None and delay + _MIN_USEFUL_S >= remaining
            ):
                raise LLMUnavailableError(
                    f"the LLM endpoint {self.endpoint} {failure.description} "
                    f"({retry + 1} attempt{'s' if retry else ''})",
                    retry_after_s=max(delay, self.breaker.retry_after_s(), 1.0),
                ) from failure.exc
            metrics.LLM_RETRIES.labels(failure.cause).inc()
            log.info(
                "retrying LLM request",
                extra={"cause": failure.cause, "delay_s": round(delay, 3), "retry": retry + 1},
            )
            await self._sleep(delay)
            retry += 1

    async def _attempt(self, task: JsonTask, request: dict[str, Any]) -> tuple[Any, float | None]:
        """One HTTP request (the breaker already let it through): response or _Failure."""
        import openai

        started = time.perf_counter()
        timeout = time_left(self.config.timeout_s)
        metrics.LLM_IN_FLIGHT.inc()
        try:
            with tracing.span(
                f"llm {task.name}",
                **{"gen_ai.request.model": self.model, "mem0stack.purpose": task.name},
            ) as span:
                response = await self._client.chat.completions.create(**request, timeout=timeout)
                usage = getattr(response, "usage", None)
                if usage is not None:
                    span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens or 0)
                    span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens or 0)
        except openai.APITimeoutError as exc:
            return self._failed(task, "timeout", f"timed out after {timeout:.1f}s", exc), None
        except openai.APIConnectionError as exc:
            reason = exc.__cause__ or exc
            return (
                self._failed(task, "connection_error", f"cannot be reached: {reason}", exc),
                None,
            )
        except openai.APIStatusError as exc:
            status = exc.status_code
            if status == 429 or status >= 500 or status == 408:
                cause = "rate_limited" if status == 429 else "server_error"
                described = f"answered HTTP {status}: {_short(_error_text(exc))}"
                return self._failed(task, cause, described, exc), _retry_after(exc)
            # Any other answer means the endpoint is up; the request itself is at fault.
            self.breaker.success()
            metrics.LLM_REQUESTS.labels(task.name, "client_error").inc()
            raise
        except BaseException:
            self.breaker.abandon()
            raise
        finally:
            metrics.LLM_IN_FLIGHT.dec()
            metrics.LLM_REQUEST_SECONDS.labels(task.name).observe(time.perf_counter() - started)
        self.breaker.success()
        metrics.LLM_REQUESTS.labels(task.name, "ok").inc()
        return response, None

    def _failed(self, task: JsonTask, cause: str, description: str, exc: Exception) -> _Failure:
        self.breaker.failure()
        metrics.LLM_REQUESTS.labels(task.name, cause).inc()
        return _Failure(cause, description, exc)

    def _delay(self, retry: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter; a server's Retry-After wins when it is longer."""
        ceiling = min(self.config.backoff_max_s, self.config.backoff_base_s * 2.0**retry)
        # "Equal jitter": at least half the backoff, so retries never bunch up at zero.
        delay = ceiling / 2 + self._jitter() * ceiling / 2
        if retry_after is not None and retry_after > 0:
            delay = max(delay, retry_after)
        return delay

    def _describe(self, exc: openai.APIStatusError) -> str:
        import openai

        if isinstance(exc, openai.AuthenticationError):
            return f"the LLM endpoint {self.endpoint} rejected the api key (401)"
        if isinstance(exc, openai.NotFoundError):
            return (
                f"the LLM endpoint {self.endpoint} answered 404: wrong base URL or unknown "
                f"model {self.model!r}"
            )
        return (
            f"the LLM endpoint {self.endpoint} answered HTTP {exc.status_code}: "
            f"{_short(_error_text(exc))}"
        )

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.close()


@dataclass(frozen=True)
class _Failure:
    cause: str
    description: str
    exc: Exception


def from_settings(settings: Settings) -> LLMClient | None:
    """The client the settings describe, or None when no model is configured."""
    if not settings.llm_model:
        return None
    config = LLMConfig(
        model=settings.llm_model,
        base_url=settings.llm_base_url,
        api_key=settings.llm_api_key.get_secret_value() if settings.llm_api_key else None,
        api_version=settings.llm_api_version,
        temperature=settings.llm_temperature,
        max_tokens=settings.llm_max_tokens,
        timeout_s=settings.llm_timeout_s,
        max_retries=settings.llm_max_retries,
        backoff_base_s=settings.llm_backoff_base_s,
        backoff_max_s=settings.llm_backoff_max_s,
        max_concurrency=settings.llm_max_concurrency,
        breaker_failures=settings.llm_breaker_failures,
        breaker_reset_s=settings.llm_breaker_reset_s,
        structured_output=settings.llm_structured_output,
        repair_attempts=settings.llm_repair_attempts,
    )
    return LLMClient(config)


def _make_client(config: LLMConfig) -> openai.AsyncOpenAI:
    import openai

    base_url = config.base_url or os.environ.get("OPENAI_BASE_URL") or None
    key = config.api_key or os.environ.get("OPENAI_API_KEY") or None
    if config.api_version:
        if not base_url:
            raise LLMConfigError(
                "llm_api_version (Azure OpenAI) needs llm_base_url, the resource URL "
                "https://<resource>.openai.azure.com"
            )
        if not key:
            raise LLMConfigError("Azure OpenAI needs llm_api_key (or OPENAI_API_KEY)")
        return openai.AsyncAzureOpenAI(
            azure_endpoint=base_url,
            api_version=config.api_version,
            api_key=key,
            max_retries=0,
            timeout=config.timeout_s,
        )
    if not key:
        if base_url is None or base_url.rstrip("/") == OPENAI_URL:
            raise LLMConfigError(
                "the LLM needs llm_api_key (or OPENAI_API_KEY) for api.openai.com, or "
                "llm_base_url for a self-hosted endpoint"
            )
        # Self-hosted servers usually ignore the key, but the client insists on one.
        key = "unused"
    return openai.AsyncOpenAI(
        base_url=base_url, api_key=key, max_retries=0, timeout=config.timeout_s
    )


def _breaker_changed(state: BreakerState) -> None:
    metrics.LLM_CIRCUIT_STATE.set(state)
    if state is BreakerState.OPEN:
        metrics.LLM_CIRCUIT_OPENED.inc()
        log.warning("LLM circuit breaker opened: calls fail at once until it closes")
    elif state is BreakerState.CLOSED:
        log.info("LLM circuit breaker closed")


def _seconds_left() -> float | None:
    deadline = deadline_var.get()
    return None if deadline is None else deadline - time.monotonic()


def _retry_after(exc: openai.APIStatusError) -> float | None:
    """Seconds from Retry-After-Ms or Retry-After (seconds; HTTP dates are rare here)."""
    headers = exc.response.headers if exc.response is not None else {}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue
        if seconds >= 0:
            return seconds
    return None


def _error_text(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        message = body.get("message")
        if isinstance(message, str):
            return message
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
    return exc.message


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
