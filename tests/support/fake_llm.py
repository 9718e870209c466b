"""A real OpenAI-compatible HTTP server on 127.0.0.1 that answers from a script.

Tests point the server (or an ``LLMClient``) at it, so the real ``openai`` client and the
real HTTP path are exercised; only what the model says is scripted. It runs in a thread, so
it answers while the test awaits the server, and it records every request for assertions.

Replies come, in order, from ``script(...)``; when the script is empty, from the
``responder`` function if one is set; otherwise the request fails with HTTP 500 and a
message saying the script ran out (so a test that makes an unexpected call fails loudly).
A scripted item may be a ``Reply`` or a function of the request returning one.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[["Recorded"], "Reply"]


@dataclass
class Reply:
    """One scripted answer.

    ``content`` is the assistant message text; ``json`` (any JSON value) is a shortcut for
    ``content=json.dumps(json)``. ``status`` other than 200 sends an OpenAI-style error with
    ``error``; ``headers`` are added (e.g. Retry-After); ``delay_s`` waits before answering.
    ``tool_call`` answers with a tool call carrying the content as arguments. ``refusal``
    answers with a refusal instead.
    """

    content: str | None = None
    json: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    tool_call: bool = False
    refusal: str | None = None
    error: str = "scripted failure"
    prompt_tokens: int = 11
    completion_tokens: int = 7
    finish_reason: str = "stop"

    def text(self) -> str:
        if self.content is not None:
            return self.content
        return json.dumps(self.json, ensure_ascii=False)


@dataclass
class Recorded:
    """One request the server received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    time: float

    @property
    def system(self) -> str:
        return str(self.body["messages"][0]["content"])

    @property
    def user(self) -> str:
        """The last user message (the conversation, the reconciliation input, a repair)."""
        users = [m for m in self.body["messages"] if m["role"] == "user"]
        return str(users[-1]["content"]) if users else ""

    @property
    def schema_name(self) -> str:
        """The name of the JSON schema asked for (extract_facts, reconcile_memories, ...)."""
        fmt = self.body.get("response_format") or {}
        if fmt.get("type") == "json_schema":
            return str(fmt["json_schema"]["name"])
        tools = self.body.get("tools") or []
        if tools:
            return str(tools[0]["function"]["name"])
        return ""

    def payload(self) -> dict[str, Any]:
        """The JSON the user message holds (the reconciliation input)."""
        first_user = next(m for m in self.body["messages"] if m["role"] == "user")
        value: dict[str, Any] = json.loads(first_user["content"])
        return value


class FakeLLM:
    """The server; start() it, point clients at ``base_url``, stop() it."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.responder: Responder | None = None
        self._script: deque[Reply | Responder] = deque()
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def server_env(self) -> dict[str, str]:
        """The settings that point a server's LLM (OpenAI-compatible) at this one."""
        return {
            "MEM0STACK_LLM_MODEL": "fake-model",
            "OPENAI_BASE_URL": self.base_url,
            "OPENAI_API_KEY": "sk-test",
        }

    def start(self) -> None:
        handler = _handler_for(self)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening; connections are refused until start() (same port) again."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.responder = None

    def script(self, *replies: Reply | Responder) -> None:
        with self._lock:
            self._script.extend(replies)

    def pending(self) -> int:
        with self._lock:
            return len(self._script)

    def calls(self, schema_name: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if schema_name in (None, r.schema_name)]

    def _next(self, recorded: Recorded) -> Reply:
        with self._lock:
            self.requests.append(recorded)
            item: Reply | Responder | None = self._script.popleft() if self._script else None
            responder = self.responder
        if item is None:
            if responder is None:
                return Reply(status=500, error="the fake LLM's script ran out")
            item = responder
        return item if isinstance(item, Reply) else item(recorded)


def _handler_for(fake: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path != "/v1/chat/completions":
                self._send(404, {"error": {"message": f"no route {self.path}"}}, {})
                return
            recorded = Recorded(
                self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time()
            )
            reply = fake._next(recorded)
            if reply.delay_s:
                time.sleep(reply.delay_s)
            if reply.status != 200:
                error = {"error": {"message": reply.error, "type": "server_error", "code": None}}
                self._send(reply.status, error, reply.headers)
                return
            message: dict[str, Any] = {"role": "assistant", "content": reply.text()}
            if reply.refusal is not None:
                message = {"role": "assistant", "content": None, "refusal": reply.refusal}
            elif reply.tool_call:
                name = body.get("tools", [{}])[0].get("function", {}).get("name", "answer")
                message = {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": name, "arguments": reply.text()},
                        }
                    ],
                }
            answer = {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason}],
                "usage": {
                    "prompt_tokens": reply.prompt_tokens,
                    "completion_tokens": reply.completion_tokens,
                    "total_tokens": reply.prompt_tokens + reply.completion_tokens,
                },
            }
            self._send(200, answer, reply.headers)

        def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

    return Handler


# Helpers to script the two kinds of answer.


def facts(*items: str | dict[str, Any], **reply: Any) -> Reply:
    """An extraction answer: strings become user facts; dicts are used as given."""
    listed = [
        {"text": item, "subject": "user", "forget": False, "categories": [], "message": 0}
        if isinstance(item, str)
        else {"subject": "user", "forget": False, "categories": [], "message": 0, **item}
        for item in items
    ]
    return Reply(json={"facts": listed}, **reply)


def decide(chooser: Callable[[dict[str, Any]], list[dict[str, Any]]], **reply: Any) -> Responder:
    """A reconciliation answer computed from the request's input.

    ``chooser`` gets ``{"memories": [{"id", "text"}], "facts": [{"index", "text",
    "forget"}]}`` and returns the decisions; ``memory_id(payload, text)`` finds the number
    shown for a memory.
    """

    def respond(request: Recorded) -> Reply:
        return Reply(json={"decisions": chooser(request.payload())}, **reply)

    return respond


def memory_id(payload: dict[str, Any], text: str) -> int:
    for memory in payload["memories"]:
        if memory["text"] == text:
            return int(memory["id"])
    raise AssertionError(f"memory {text!r} was not shown to the LLM: {payload['memories']}")
