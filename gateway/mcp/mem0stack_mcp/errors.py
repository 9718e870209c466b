"""Server errors, rewritten as messages a model can act on."""

from __future__ import annotations

import grpc

from mem0stack import Mem0StackError

__all__ = ["describe"]

# What the model should do next, by gRPC code: the server's own message says what went wrong.
_ADVICE: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.INVALID_ARGUMENT: "Fix the arguments and call again.",
    grpc.StatusCode.NOT_FOUND: (
        "No memory of this user has that id; use search_memory or list_memories to find it."
    ),
    grpc.StatusCode.ABORTED: "The memory changed at the same time; read it again and retry.",
    grpc.StatusCode.UNAUTHENTICATED: (
        "The memory server rejected the API key. Retrying will not help: tell the user to check "
        "the key the MCP bridge is configured with."
    ),
    grpc.StatusCode.PERMISSION_DENIED: (
        "The API key may not reach this user's memories. Retrying will not help: tell the user "
        "to check the bridge's user and key."
    ),
    grpc.StatusCode.UNAVAILABLE: "The memory server is unavailable right now; try again later.",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "The memory server is busy; try again in a moment.",
    grpc.StatusCode.DEADLINE_EXCEEDED: (
        "The memory server did not answer in time; nothing was written. Try again later."
    ),
    grpc.StatusCode.FAILED_PRECONDITION: (
        "The server could not do it as asked; nothing was written."
    ),
}


def describe(error: Mem0StackError, server: str) -> str:
    """One paragraph: what failed (code, reason, message, invalid fields) and what to do next."""
    what = f"{error.code.name} {error.reason_name}" if error.reason_name else error.code.name
    text = (
        f"The call to the memory server at {server} failed ({what}): {error.message or 'no detail'}"
    )
    text = text.rstrip(".") + "."
    if error.field_violations:
        fields = "; ".join(f"{v.field}: {v.description}" for v in error.field_violations)
        text += f" Invalid: {fields}."
    advice = _ADVICE.get(error.code)
    return f"{text} {advice}" if advice else text
