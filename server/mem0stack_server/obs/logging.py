"""Structured logs: one JSON object per line, with the call's request id on every line."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from mem0stack_server.context import request_id_var
from mem0stack_server.obs import tracing


def _add_request_id(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    request_id = request_id_var.get()
    if request_id:
        event.setdefault("request_id", request_id)
    ids = tracing.ids()
    if ids is not None:
        event.setdefault("trace_id", ids[0])
        event.setdefault("span_id", ids[1])
    return event


def _add_extra(record_attrs: frozenset[str]) -> Any:
    """Copy ``extra={...}`` fields of stdlib log calls into the event."""

    def processor(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
        record = event.get("_record")
        if record is not None:
            for key, value in record.__dict__.items():
                if key not in record_attrs and not key.startswith("_"):
                    event.setdefault(key, value)
        return event

    return processor


def configure(level: str = "INFO", fmt: str = "json") -> None:
    """Route stdlib logging and structlog through one JSON (or console) renderer on stderr."""
    standard = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
        "message",
        "asctime",
        "taskName",
    }
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_request_id,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, _add_extra(standard)],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
