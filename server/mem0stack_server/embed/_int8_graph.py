"""Rewrite the bundled int8 ONNX model so its weight MatMuls compute in int8.

The shipped all-MiniLM-L6-v2 export stores every weight matrix as int8 with one float
scale per output column, but dequantizes it in the graph::

    W_int8 (initializer) -> Cast(to=float) -> Mul(scale [1, N]) -> MatMul(A, .)

so ONNX Runtime folds the weights back to float32 and all 36 weight MatMuls run in
fp32. :func:`int8_matmul_model` replaces each such chain with ONNX Runtime's contrib op
``com.microsoft.DynamicQuantizeMatMul(A, W_int8, scale[N], zero_point[N])``: the same
int8 weights and scales, with the activations ``A`` quantized to uint8 per run. That
makes one short query ~2x faster on one thread, at a small cost in accuracy (cosine to
the float vector ~0.99, see :mod:`.local`), so only search queries use it; stored
document vectors keep the float computation.

Which integer kernel runs depends on the CPU. With VNNI (AVX512-VNNI or AVX-VNNI) the
uint8 x int8 products are summed in 32 bits, exactly. x86 CPUs without VNNI (AVX2
only, AVX512 without VNNI) sum pairs of products into 16 bits first (``vpmaddubsw``),
which saturates when an activation near 255 meets weights near +-127: on such a CPU
the rewrite made LoCoMo's probe sentences drift to cosine 0.960 from the exact int8
result, and a hand-built worst case was off by 2.15 where 0.24 was expected.
:func:`int8_products_saturate` detects this by running that worst case once, and on
such CPUs the rewrite stores the weights as uint8 with zero point 128
(``unsigned_weights``): ONNX Runtime then takes its uint8 x uint8 kernel, which widens
to 16 bits before multiplying and sums in 32, exactly. The integer products are the
same numbers either way, so every CPU computes the same query vectors; the unsigned
kernel is slower than VNNI's (measured in docs/benchmarks.md) but still faster than
float.

Runs once at start-up (~0.07 s) on the in-memory protobuf; the file is not changed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

from ._gather_graph import gather_before_dequantize
from ._graph_edit import casts_to_float, dead_outputs, delete, fresh, reads
from .base import EmbedderConfigError

#: Domain and opset version of ONNX Runtime's contrib ops (DynamicQuantizeMatMul).
MS_DOMAIN = "com.microsoft"
MS_OPSET = 1
#: Zero point that turns an int8 weight w into the uint8 w + 128 with the same value.
UNSIGNED_ZERO_POINT = 128


@dataclass(frozen=True)
class _Match:
    matmul: onnx.NodeProto
    mul: onnx.NodeProto
    cast: onnx.NodeProto
    weight: str  # int8 initializer [K, N]
    scale: str  # float32 initializer [1, N] or [N]
    columns: int  # N


def int8_matmul_model(model_path: Path, *, unsigned_weights: bool = False) -> bytes:
    """The model at ``model_path`` with its weight MatMuls in int8, serialized.

    ``unsigned_weights`` stores the weights as uint8 (see the module doc); pass
    :func:`int8_products_saturate` for the kernel that is exact on this CPU.
    Raises :class:`EmbedderConfigError` if the file cannot be read or has no
    ``Cast(int8 W) -> Mul(per-column scale) -> MatMul`` chain (a float or differently
    quantized export): such a model has nothing to rewrite.
    """
    try:
        model = onnx.load(str(model_path))
    except Exception as exc:  # protobuf DecodeError, OSError, ...
        raise EmbedderConfigError(f"cannot read ONNX model {model_path}: {exc}") from exc
    count = rewrite_weight_matmuls(model, unsigned_weights=unsigned_weights)
    if count == 0:
        raise EmbedderConfigError(
            f"ONNX model {model_path} has no int8 weight MatMul "
            "(Cast(int8 initializer) -> Mul(per-column scale) -> MatMul) to compute in int8"
        )
    # Keeps the word embedding table int8 in this session too (see that module).
    gather_before_dequantize(model)
    return model.SerializeToString()


def rewrite_weight_matmuls(model: onnx.ModelProto, *, unsigned_weights: bool = False) -> int:
    """Rewrite ``model`` in place (see the module doc); returns the MatMuls rewritten.

    With ``unsigned_weights`` each rewritten MatMul reads a uint8 copy of its weight
    (w + 128, zero point 128); the int8 initializer stays only if something else reads it.
    A Cast or Mul whose output something else also reads is kept; the float scale
    initializers nothing reads any more are dropped, so ONNX Runtime does not warn
    about unused initializers.
    """
    graph = model.graph
    matches = _find_matches(graph)
    if not matches:
        return 0
    initializers = {init.name: init for init in graph.initializer}
    taken = set(initializers) | {name for node in graph.node for name in node.output}
    taken |= {value.name for value in graph.input}
    # One 1-D scale and one int8 zero point per float scale initializer (shared
    # weights share them too). Built first, appended after: no protobuf reference
    # is held across a change to the list it points into.
    converted: dict[str, tuple[str, str]] = {}
    unsigned: dict[str, str] = {}
    added: list[onnx.TensorProto] = []
    zero_dtype = np.uint8 if unsigned_weights else np.int8
    zero_value = UNSIGNED_ZERO_POINT if unsigned_weights else 0
    for match in matches:
        if unsigned_weights and match.weight not in unsigned:
            weight = numpy_helper.to_array(initializers[match.weight]).astype(np.int16)
            name = fresh(f"{match.weight}_uint8", taken)
            added.append(numpy_helper.from_array((weight + zero_value).astype(np.uint8), name))
            unsigned[match.weight] = name
        if match.scale in converted:
            continue
        scale = numpy_helper.to_array(initializers[match.scale]).astype(np.float32)
        scale_name = fresh(f"{match.scale}_1d", taken)
        zero_name = fresh(f"{match.scale}_zero_point", taken)
        added.append(numpy_helper.from_array(scale.reshape(match.columns), scale_name))
        zeros = np.full(match.columns, zero_value, dtype=zero_dtype)
        added.append(numpy_helper.from_array(zeros, zero_name))
        converted[match.scale] = (scale_name, zero_name)
    for match in matches:
        scale_name, zero_name = converted[match.scale]
        activations = match.matmul.input[0]
        match.matmul.op_type = "DynamicQuantizeMatMul"
        match.matmul.domain = MS_DOMAIN
        del match.matmul.input[:]
        weight_name = unsigned.get(match.weight, match.weight)
        match.matmul.input.extend([activations, weight_name, scale_name, zero_name])
    dead = dead_outputs(
        graph, [m.mul.output[0] for m in matches] + [m.cast.output[0] for m in matches]
    )
    delete(graph.node, lambda node: bool(node.output) and node.output[0] in dead)
    delete(graph.value_info, lambda value: value.name in dead)
    graph.initializer.extend(added)
    unread = {m.scale for m in matches} | set(unsigned)
    unread -= set(reads(graph))
    delete(graph.initializer, lambda init: init.name in unread)
    # Before IR version 4 initializers are also listed as graph inputs.
    delete(graph.input, lambda value: value.name in unread)
    if not any(opset.domain == MS_DOMAIN for opset in model.opset_import):
        model.opset_import.append(onnx.helper.make_opsetid(MS_DOMAIN, MS_OPSET))
    return len(matches)


@functools.cache
def int8_products_saturate() -> bool:
    """Whether this CPU's uint8 x int8 MatMul kernel saturates (x86 without VNNI).

    Runs ``DynamicQuantizeMatMul`` once on the worst case, every activation quantized to
    255 against weights of 127, whose exact result needs 32-bit sums; a kernel that adds
    pairs of products into 16 bits (255 * 127 * 2 = 64,770 > 32,767) returns about half.
    The answer is cached: the CPU does not change while the process runs.
    """
    depth, columns = 64, 4
    graph = helper.make_graph(
        [
            helper.make_node(
                "DynamicQuantizeMatMul", ["a", "w", "scale", "zero"], ["y"], domain=MS_DOMAIN
            )
        ],
        "int8_saturation_probe",
        [helper.make_tensor_value_info("a", onnx.TensorProto.FLOAT, [1, depth])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, columns])],
        [
            numpy_helper.from_array(np.full((depth, columns), 127, dtype=np.int8), "w"),
            numpy_helper.from_array(np.ones(columns, dtype=np.float32), "scale"),
            numpy_helper.from_array(np.zeros(columns, dtype=np.int8), "zero"),
        ],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(MS_DOMAIN, MS_OPSET)],
    )
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    # All ones quantize to 255 (scale 1/255, zero point 0): the exact result is 64 * 127.
    (result,) = session.run(None, {"a": np.ones((1, depth), dtype=np.float32)})
    exact = depth * 127.0
    return bool(np.abs(np.asarray(result) - exact).max() > 0.01 * exact)


def _find_matches(graph: onnx.GraphProto) -> list[_Match]:
    initializers = {init.name: init for init in graph.initializer}
    producers = {name: node for node in graph.node for name in node.output if name}
    matches: list[_Match] = []
    for matmul in graph.node:
        if matmul.op_type != "MatMul" or matmul.domain not in ("", "ai.onnx"):
            continue
        if len(matmul.input) != 2:
            continue
        mul = producers.get(matmul.input[1])
        if mul is None or mul.op_type != "Mul" or len(mul.input) != 2:
            continue
        left, right = mul.input
        for cast_input, scale in ((left, right), (right, left)):
            cast = producers.get(cast_input)
            if cast is None or cast.op_type != "Cast" or scale not in initializers:
                continue
            if not casts_to_float(cast) or cast.input[0] not in initializers:
                continue
            weight = initializers[cast.input[0]]
            if weight.data_type != onnx.TensorProto.INT8 or len(weight.dims) != 2:
                continue
            columns = int(weight.dims[1])
            scale_init = initializers[scale]
            if scale_init.data_type != onnx.TensorProto.FLOAT:
                continue
            if list(scale_init.dims) not in ([1, columns], [columns]):
                continue
            matches.append(_Match(matmul, mul, cast, cast.input[0], scale, columns))
            break
    return matches
