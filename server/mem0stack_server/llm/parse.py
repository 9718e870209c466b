"""Tolerant JSON parsing of model output.

Endpoints that honour structured outputs return bare JSON, but many self-hosted models (and
endpoints that silently ignore ``response_format``) wrap it: in a Markdown code fence, after a
sentence of prose, before an explanation, after a ``<think>`` block of a reasoning model, or
with a trailing comma. Each of those is recovered here; anything else is a
``JSONParseError``, never a guess.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

# Reasoning models (DeepSeek-R1, Qwen3 via Ollama) put their reasoning first; it may itself
# contain braces.
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[ \t]*(?:json5?|JSON)?[ \t]*\r?\n?(.*?)```", re.DOTALL)
# Scanning every brace of a long answer would be quadratic; real answers need one or two.
_MAX_STARTS = 32


class JSONParseError(ValueError):
    """No JSON object or array could be recovered from the text."""


def parse_json(text: str) -> Any:
    """The first JSON object or array in ``text``, tolerating wrapping and trailing commas."""
    cleaned = _THINK.sub("", text).strip()
    if not cleaned:
        raise JSONParseError("the answer is empty")
    for candidate in _candidates(cleaned):
        value = _loads(candidate)
        if isinstance(value, (dict, list)):
            return value
    raise JSONParseError(_describe(cleaned))


def _candidates(text: str) -> Iterator[str]:
    yield text
    for match in _FENCE.finditer(text):
        yield match.group(1).strip()
    starts = 0
    for i, char in enumerate(text):
        if char in "{[":
            end = _balanced_end(text, i)
            if end is None:
                # Never closed: the answer was cut off. What follows is inside it, and a
                # fragment of it must not pass for the answer.
                return
            yield text[i : end + 1]
            starts += 1
            if starts >= _MAX_STARTS:
                return


def _loads(candidate: str) -> Any:
    for attempt in (candidate, _without_trailing_commas(candidate)):
        try:
            return json.loads(attempt)
        except ValueError:
            continue
    return None


def _balanced_end(text: str, start: int) -> int | None:
    """Index of the bracket closing the one at ``start``, skipping strings; None if open."""
    closing = {"{": "}", "[": "]"}
    stack = [closing[text[start]]]
    in_string = False
    escaped = False
    for i in range(start + 1, len(text)):
        char = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char in closing:
            stack.append(closing[char])
        elif char in "}]":
            if char != stack.pop():
                return None
            if not stack:
                return i
    return None


def _without_trailing_commas(text: str) -> str:
    """Drop commas that directly precede ``}`` or ``]`` (outside strings)."""
    out: list[str] = []
    in_string = False
    escaped = False
    pending_comma: list[str] = []  # a comma and the whitespace after it, held back
    for char in text:
        if in_string:
            out.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if pending_comma:
            if char.isspace():
                pending_comma.append(char)
                continue
            if char not in "}]":
                out.extend(pending_comma)
            else:
                out.extend(pending_comma[1:])
            pending_comma = []
        if char == ",":
            pending_comma = [char]
            continue
        if char == '"':
            in_string = True
        out.append(char)
    out.extend(pending_comma)
    return "".join(out)


def _describe(text: str) -> str:
    if "{" not in text and "[" not in text:
        return "the answer contains no JSON object or array"
    try:
        json.loads(text)
    except ValueError as exc:
        return f"the answer is not valid JSON ({exc})"
    return "the answer is JSON but not an object or array"
