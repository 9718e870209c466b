"""Small edits of an ONNX graph's protobuf, shared by the start-up rewrites
(:mod:`._int8_graph`, :mod:`._gather_graph`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import onnx


def casts_to_float(cast: onnx.NodeProto) -> bool:
    """Whether ``cast`` is a Cast to float32."""
    return any(attr.name == "to" and attr.i == onnx.TensorProto.FLOAT for attr in cast.attribute)


def fresh(base: str, taken: set[str]) -> str:
    """``base``, or ``base_2``, ``base_3``...: the first name not in ``taken`` (then taken)."""
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name


def dead_outputs(graph: onnx.GraphProto, candidates: list[str]) -> set[str]:
    """Those ``candidates`` (node outputs, checked in order) that nothing reads any more.

    A candidate counts as gone once found unread, so a Cast whose only reader was a
    dead Mul is dead too when it comes after that Mul in ``candidates``.
    """
    producers = {name: node for node in graph.node for name in node.output if name}
    counts = reads(graph)
    dead: set[str] = set()
    for name in candidates:
        node = producers[name]
        if name in dead or len(node.output) != 1 or counts[name]:
            continue
        dead.add(name)
        for read in node.input:
            counts[read] -= 1
    return dead


def reads(graph: onnx.GraphProto) -> Counter[str]:
    """How often each value name is read: node inputs, graph outputs and, to stay on the
    safe side, every input inside subgraphs (If/Loop bodies may read outer values)."""
    counts: Counter[str] = Counter(value.name for value in graph.output)
    for node in graph.node:
        counts.update(node.input)
        for attr in node.attribute:
            for sub in [attr.g, *attr.graphs] if attr.HasField("g") else attr.graphs:
                counts.update(reads(sub))
    return counts


def delete(items: Any, doomed: Callable[[Any], bool]) -> None:
    """Delete the elements of a protobuf repeated field for which ``doomed`` is true."""
    for i in reversed(range(len(items))):
        if doomed(items[i]):
            del items[i]
