"""The LLM behind AddMemories: an OpenAI-compatible chat endpoint, made dependable.

``LLMClient`` adds what the anchors' users asked for: timeouts, retries with backoff and
jitter that honour Retry-After, a circuit breaker, a cap on concurrent requests, token
counts, structured outputs where the endpoint has them and tolerant parsing where it has not.
Prompts and what the answers mean live in ``mem0stack_server.app.inference``.
"""

from mem0stack_server.llm.client import JsonTask, LLMClient, LLMConfig, Usage, from_settings
from mem0stack_server.llm.errors import (
    LLMConfigError,
    LLMError,
    LLMOutputError,
    LLMUnavailableError,
    OutputShapeError,
)

__all__ = [
    "JsonTask",
    "LLMClient",
    "LLMConfig",
    "LLMConfigError",
    "LLMError",
    "LLMOutputError",
    "LLMUnavailableError",
    "OutputShapeError",
    "Usage",
    "from_settings",
]
