"""What can go wrong when asking the LLM, independent of gRPC.

The core maps these to API errors: LLMUnavailableError to UNAVAILABLE (reason
LLM_UNAVAILABLE, with a RetryInfo), LLMOutputError to FAILED_PRECONDITION (reason
LLM_OUTPUT_INVALID).
"""

from __future__ import annotations


class LLMError(Exception):
    """Any failure of an LLM call."""


class LLMConfigError(LLMError):
    """The LLM settings cannot work (raised at start-up, never per call)."""


class LLMUnavailableError(LLMError):
    """The endpoint failed after retries, timed out, or its circuit breaker is open."""

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class LLMOutputError(LLMError):
    """The model answered, but not with output of the requested shape, even after repair.

    ``raw`` is the last answer, for a debug log only: it holds conversation content.
    """

    def __init__(self, message: str, *, model: str, purpose: str, raw: str) -> None:
        super().__init__(message)
        self.model = model
        self.purpose = purpose
        self.raw = raw


class OutputShapeError(ValueError):
    """Parsed JSON that does not have the shape a caller needs; the text says what is wrong.

    Raised by the validators the core hands to ``LLMClient.complete_json``; it triggers the
    same repair round as text that is not JSON at all.
    """
