"""Rewrite an int8 ONNX model so a quantized lookup table stays int8 in memory.

The bundled all-MiniLM-L6-v2 export stores its word embedding table (30,522 x 384, half
of all its weights) as int8 with one float scale per row, dequantized in the graph
before the lookup::

    T_int8 (initializer) -> Cast(to=float) -> Mul(scale [rows, 1]) -> Gather(., ids)

ONNX Runtime folds the constant ``Cast -> Mul`` at load, so every session holds the whole
table as float32: 47 MB, for the few dozen rows one run reads. :func:`gather_before_dequantize`
moves the lookup first::

    Gather(T_int8, ids) -> Cast(to=float) -> Mul(Gather(scale, ids))

Each looked-up element is still ``float(t) * scale`` of its row, one float32
multiplication, rounded the same way, so the outputs are bit-identical (checked by
tests/unit/test_embed_memory.py, and on LoCoMo turns: docs/benchmarks.md); the session
keeps the 12 MB int8 table instead, and dequantizes a run's rows (a few thousand
products) each time, which costs no measurable time. Only the word embedding table is
large enough to be worth it (see :data:`MIN_TABLE_VALUES`).

Runs once at start-up on the in-memory protobuf; the file is not changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnx
from onnx import helper

from ._graph_edit import casts_to_float, dead_outputs, delete, fresh, reads


def lean_model(model_path: Path) -> Path | bytes:
    """The model at ``model_path`` with its int8 lookups rewritten, serialized; or the
    path itself when there is nothing to rewrite or the file does not parse (ONNX Runtime
    then loads it as it is, and reports a bad file the way it always did)."""
    try:
        model = onnx.load(str(model_path))
    except Exception:  # protobuf DecodeError, OSError, ...: left to ONNX Runtime to report
        return model_path
    if gather_before_dequantize(model) == 0:
        return model_path
    return model.SerializeToString()


#: Tables smaller than this many values stay as they are: the float copy of the position
#: table (512 x 384) is 0.75 MB, not worth three more nodes in every run.
MIN_TABLE_VALUES = 1 << 20


@dataclass(frozen=True)
class _Lookup:
    gather: onnx.NodeProto
    mul: onnx.NodeProto
    cast: onnx.NodeProto
    table: str  # int8 initializer [rows, columns]
    scale: str  # float32 initializer [rows, 1]


def gather_before_dequantize(model: onnx.ModelProto) -> int:
    """Rewrite ``model`` in place (see the module doc); returns the lookups rewritten.

    Only a row lookup (``Gather`` on axis 0) of a 2-D int8 initializer of at least
    :data:`MIN_TABLE_VALUES` values dequantized by a per-row float scale (``[rows, 1]``)
    is rewritten; the Cast and Mul stay if something
    else reads their output, and the table and scale initializers are kept (the new
    nodes read them).
    """
    graph = model.graph
    lookups = _find_lookups(graph)
    if not lookups:
        return 0
    taken = {init.name for init in graph.initializer}
    taken |= {name for node in graph.node for name in node.output}
    taken |= {value.name for value in graph.input}
    # Built first and spliced in at the Gather's place after, so no protobuf reference is
    # held across a change to the list it points into and the order stays topological.
    replacements: dict[str, list[onnx.NodeProto]] = {}
    for lookup in lookups:
        ids = lookup.gather.input[1]
        rows = fresh(f"{lookup.table}_rows", taken)
        row_scales = fresh(f"{lookup.scale}_rows", taken)
        floats = fresh(f"{lookup.table}_rows_f", taken)
        replacements[lookup.gather.output[0]] = [
            helper.make_node("Gather", [lookup.table, ids], [rows], axis=0),
            helper.make_node("Gather", [lookup.scale, ids], [row_scales], axis=0),
            helper.make_node("Cast", [rows], [floats], to=onnx.TensorProto.FLOAT),
            # float32 multiplication is commutative and correctly rounded: the same
            # product as the original Mul's, whichever side the scale was on.
            helper.make_node("Mul", [floats, row_scales], [lookup.gather.output[0]]),
        ]
    nodes = list(graph.node)
    del graph.node[:]
    for node in nodes:
        graph.node.extend(replacements.get(node.output[0], [node]) if node.output else [node])
    dead = dead_outputs(
        graph, [m.mul.output[0] for m in lookups] + [m.cast.output[0] for m in lookups]
    )
    delete(graph.node, lambda node: bool(node.output) and node.output[0] in dead)
    delete(graph.value_info, lambda value: value.name in dead)
    return len(lookups)


def _find_lookups(graph: onnx.GraphProto) -> list[_Lookup]:
    initializers = {init.name: init for init in graph.initializer}
    producers = {name: node for node in graph.node for name in node.output if name}
    counts = reads(graph)
    lookups: list[_Lookup] = []
    for gather in graph.node:
        if gather.op_type != "Gather" or gather.domain not in ("", "ai.onnx"):
            continue
        if any(attr.name == "axis" and attr.i != 0 for attr in gather.attribute):
            continue
        mul = producers.get(gather.input[0])
        if mul is None or mul.op_type != "Mul" or len(mul.input) != 2:
            continue
        for cast_input, scale in ((mul.input[0], mul.input[1]), (mul.input[1], mul.input[0])):
            cast = producers.get(cast_input)
            if cast is None or cast.op_type != "Cast" or scale not in initializers:
                continue
            if not casts_to_float(cast) or cast.input[0] not in initializers:
                continue
            table = initializers[cast.input[0]]
            if table.data_type != onnx.TensorProto.INT8 or len(table.dims) != 2:
                continue
            if table.dims[0] * table.dims[1] < MIN_TABLE_VALUES:
                continue
            scale_init = initializers[scale]
            if scale_init.data_type != onnx.TensorProto.FLOAT:
                continue
            if list(scale_init.dims) != [int(table.dims[0]), 1]:
                continue
            # The dequantized table read by something else too would stay float anyway.
            if counts[gather.input[0]] != 1:
                continue
            lookups.append(_Lookup(gather, mul, cast, cast.input[0], scale))
            break
    return lookups
