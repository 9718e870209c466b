"""LLMClient against a real HTTP server speaking the chat-completions API (tests/support).

The real ``openai`` client sends every request; only the answers are scripted. No
PostgreSQL is needed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from mem0stack_server.context import deadline_var
from mem0stack_server.llm import (
    JsonTask,
    LLMClient,
    LLMConfig,
    LLMOutputError,
    LLMUnavailableError,
    OutputShapeError,
    Usage,
)
from mem0stack_server.llm.breaker import BreakerState
from tests.support.fake_llm import FakeLLM, Reply
from tests.support.servers import free_port

SCHEMA = {
    "type": "object",
    "properties": {"facts": {"type": "array", "items": {"type": "string"}}},
    "required": ["facts"],
    "additionalProperties": False,
}
TASK = JsonTask(
    name="extract_facts",
    system="Extract facts.",
    user="[0] user: I live in Berlin",
    schema=SCHEMA,
    repair_prompt="Not usable: {problem}. Only JSON, please.",
)
GOOD = Reply(json={"facts": ["Lives in Berlin"]}, prompt_tokens=30, completion_tokens=9)


def facts_of(data: Any) -> list[str]:
    if not isinstance(data, dict) or not isinstance(data.get("facts"), list):
        raise OutputShapeError('expected {"facts": [...]}')
    return [str(f) for f in data["facts"]]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLM]:
    server = FakeLLM()
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fresh(fake: FakeLLM) -> None:
    fake.reset()


def client(fake: FakeLLM, **overrides: Any) -> LLMClient:
    options: dict[str, Any] = {
        "model": "fake-model",
        "base_url": fake.base_url,
        "api_key": "sk-test",
        "timeout_s": 2.0,
        "max_retries": 2,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        "breaker_failures": 100,
        "breaker_reset_s": 0.5,
    }
    options.update(overrides)
    return LLMClient(LLMConfig(**options))


async def ask(llm: LLMClient, usage: Usage | None = None) -> list[str]:
    return await llm.complete_json(TASK, usage or Usage(), facts_of)


async def test_structured_output_and_token_usage(fake: FakeLLM) -> None:
    fake.script(GOOD, GOOD)
    llm = client(fake)
    usage = Usage()
    assert await ask(llm, usage) == ["Lives in Berlin"]
    assert await ask(llm, usage) == ["Lives in Berlin"]
    await llm.aclose()
    assert (usage.prompt_tokens, usage.completion_tokens, usage.calls) == (60, 18, 2)
    body = fake.requests[0].body
    assert body["model"] == "fake-model"
    assert body["temperature"] == 0.0
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "extract_facts", "schema": SCHEMA, "strict": True},
    }
    assert fake.requests[0].headers["authorization"] == "Bearer sk-test"


async def test_429_is_retried_after_retry_after(fake: FakeLLM) -> None:
    fake.script(Reply(status=429, headers={"Retry-After": "0.4"}, error="slow down"), GOOD)
    llm = client(fake)
    assert await ask(llm) == ["Lives in Berlin"]
    await llm.aclose()
    first, second = fake.requests
    assert second.time - first.time >= 0.4


async def test_server_errors_are_retried_with_backoff(fake: FakeLLM) -> None:
    fake.script(Reply(status=500), Reply(status=503), GOOD)
    llm = client(fake)
    assert await ask(llm) == ["Lives in Berlin"]
    await llm.aclose()
    assert len(fake.requests) == 3


async def test_retries_give_up_with_retry_info(fake: FakeLLM) -> None:
    fake.script(*[Reply(status=502, error="bad gateway")] * 3)
    llm = client(fake, max_retries=2)
    with pytest.raises(LLMUnavailableError, match=r"HTTP 502.*bad gateway.*3 attempts") as failed:
        await ask(llm)
    await llm.aclose()
    assert failed.value.retry_after_s >= 1.0
    assert len(fake.requests) == 3


async def test_client_errors_are_not_retried(fake: FakeLLM) -> None:
    fake.script(Reply(status=401, error="bad key"))
    llm = client(fake)
    with pytest.raises(LLMUnavailableError, match="rejected the api key"):
        await ask(llm)
    await llm.aclose()
    assert len(fake.requests) == 1


async def test_timeout(fake: FakeLLM) -> None:
    fake.script(Reply(json={"facts": []}, delay_s=1.0), Reply(json={"facts": []}, delay_s=1.0))
    llm = client(fake, timeout_s=0.3, max_retries=1)
    started = time.monotonic()
    with pytest.raises(LLMUnavailableError, match="timed out"):
        await ask(llm)
    await llm.aclose()
    # Two attempts without the timeout would take 2 s or more (each answer waits 1 s); the
    # bound leaves room for a loaded machine.
    assert time.monotonic() - started < 1.9
    assert len(fake.requests) == 2


async def test_the_callers_deadline_bounds_retries(fake: FakeLLM) -> None:
    fake.script(Reply(status=429, headers={"Retry-After": "5"}))
    llm = client(fake)
    token = deadline_var.set(time.monotonic() + 1.0)
    try:
        started = time.monotonic()
        with pytest.raises(LLMUnavailableError) as failed:
            await ask(llm)
    finally:
        deadline_var.reset(token)
    await llm.aclose()
    assert time.monotonic() - started < 0.8  # did not sleep 5 s into a 1 s deadline
    assert failed.value.retry_after_s >= 5.0


async def test_circuit_opens_refuses_without_requests_then_closes(fake: FakeLLM) -> None:
    llm = client(fake, breaker_failures=2, breaker_reset_s=0.5, max_retries=1)
    fake.script(Reply(status=503), Reply(status=503))
    with pytest.raises(LLMUnavailableError):
        await ask(llm)
    assert llm.breaker.state is BreakerState.OPEN
    started = time.monotonic()
    with pytest.raises(LLMUnavailableError, match="circuit breaker is open") as refused:
        await ask(llm)
    assert time.monotonic() - started < 0.1
    assert 0 < refused.value.retry_after_s <= 0.5
    assert len(fake.requests) == 2  # the refused call never reached the endpoint
    await asyncio.sleep(0.55)
    fake.script(GOOD)
    assert await ask(llm) == ["Lives in Berlin"]
    assert llm.breaker.state is BreakerState.CLOSED
    await llm.aclose()


async def test_endpoint_down_then_back(fake: FakeLLM) -> None:
    port = free_port()
    down = FakeLLM()
    down.port = port
    llm = LLMClient(
        LLMConfig(
            model="m",
            base_url=f"http://127.0.0.1:{port}/v1",
            api_key="k",
            max_retries=0,
            breaker_failures=1,
            breaker_reset_s=0.3,
        )
    )
    with pytest.raises(LLMUnavailableError, match="cannot be reached"):
        await ask(llm)
    assert llm.breaker.state is BreakerState.OPEN
    down.start()
    try:
        down.script(GOOD)
        await asyncio.sleep(0.35)
        assert await ask(llm) == ["Lives in Berlin"]
        assert llm.breaker.state is BreakerState.CLOSED
    finally:
        down.stop()
        await llm.aclose()


async def test_concurrency_is_capped(fake: FakeLLM) -> None:
    fake.script(Reply(json={"facts": []}, delay_s=0.3), Reply(json={"facts": []}, delay_s=0.3))
    llm = client(fake, max_concurrency=1)
    await asyncio.gather(ask(llm), ask(llm))
    await llm.aclose()
    first, second = sorted(r.time for r in fake.requests)
    assert second - first >= 0.3


async def test_auto_steps_down_when_json_schema_is_rejected(fake: FakeLLM) -> None:
    rejected = Reply(status=400, error="response_format json_schema is not supported")
    fake.script(rejected, GOOD, GOOD)
    llm = client(fake)
    assert await ask(llm) == ["Lives in Berlin"]
    assert await ask(llm) == ["Lives in Berlin"]
    await llm.aclose()
    formats = [r.body.get("response_format", {}).get("type") for r in fake.requests]
    assert formats == ["json_schema", "json_object", "json_object"]


async def test_temperature_is_dropped_when_the_model_rejects_it(fake: FakeLLM) -> None:
    fake.script(Reply(status=400, error="Unsupported value: 'temperature'"), GOOD)
    llm = client(fake)
    assert await ask(llm) == ["Lives in Berlin"]
    await llm.aclose()
    assert "temperature" in fake.requests[0].body
    assert "temperature" not in fake.requests[1].body


async def test_tool_call_mode(fake: FakeLLM) -> None:
    fake.script(Reply(json={"facts": ["Lives in Berlin"]}, tool_call=True))
    llm = client(fake, structured_output="tools")
    assert await ask(llm) == ["Lives in Berlin"]
    await llm.aclose()
    body = fake.requests[0].body
    assert "response_format" not in body
    assert body["tools"][0]["function"]["name"] == "extract_facts"
    assert body["tools"][0]["function"]["parameters"] == SCHEMA
    assert body["tool_choice"] == {"type": "function", "function": {"name": "extract_facts"}}


async def test_prompt_only_mode_parses_wrapped_json(fake: FakeLLM) -> None:
    fake.script(Reply(content='Sure:\n```json\n{"facts": ["Lives in Berlin",]}\n```'))
    llm = client(fake, structured_output="off")
    assert await ask(llm) == ["Lives in Berlin"]
    await llm.aclose()
    assert "response_format" not in fake.requests[0].body


async def test_a_broken_answer_is_sent_back_once_to_be_fixed(fake: FakeLLM) -> None:
    fake.script(Reply(content="The user lives in Berlin."), GOOD)
    llm = client(fake)
    usage = Usage()
    assert await ask(llm, usage) == ["Lives in Berlin"]
    await llm.aclose()
    assert usage.calls == 2
    repair = fake.requests[1].body["messages"]
    assert repair[-2] == {"role": "assistant", "content": "The user lives in Berlin."}
    assert repair[-1]["role"] == "user" and "no JSON" in repair[-1]["content"]


async def test_unusable_after_repair_is_an_output_error(fake: FakeLLM) -> None:
    fake.script(Reply(content="I cannot do that."), Reply(content='{"memories": []}'))
    llm = client(fake)
    with pytest.raises(LLMOutputError, match="fake-model") as failed:
        await ask(llm)
    await llm.aclose()
    assert failed.value.raw == '{"memories": []}'
    assert failed.value.purpose == "extract_facts"


async def test_a_refusal_is_an_output_error(fake: FakeLLM) -> None:
    fake.script(Reply(refusal="I can't help with that."))
    llm = client(fake)
    with pytest.raises(LLMOutputError, match="refused"):
        await ask(llm)
    await llm.aclose()
