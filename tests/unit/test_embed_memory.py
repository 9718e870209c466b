"""The local embedder's memory savings change no vector: the word embedding lookup moved
before its dequantization (``_gather_graph``) and the model bytes ONNX Runtime would keep."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from mem0stack_server.embed._gather_graph import gather_before_dequantize, lean_model
from mem0stack_server.embed._int8_graph import int8_matmul_model, rewrite_weight_matmuls
from mem0stack_server.embed._onnx_model import (
    OnnxSentenceModel,
    bundled_model_file,
    bundled_tokenizer_file,
)

# Varied lengths, scripts and rare word pieces, so many rows of the table are read.
TEXTS = [
    "",
    "ok",
    "Caroline: I went to a LGBTQ support group yesterday and it was so powerful.",
    "Melanie: Wow, that's cool! [image: a photo of a painting of a sunset over a lake]",
    "I moved to Berlin in 2021 and started working as a nurse at the Charité.",
    "¿Dónde vive tu hermana ahora? Ella vive en Valparaíso desde hace tres años.",
    "東京で新しい仕事を始めました。",
    "Allergic to peanuts; carries an EpiPen. Blood type 0+, ICD-10 Z91.010.",
    "remind me to call mom on sunday " * 30,  # longer than the 256-token limit
    "zxqv brrrp kwyjibo floccinaucinihilipilification antidisestablishmentarianism",
]


def _bits(vectors: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(vectors, dtype=np.float32).view(np.uint32)


def test_bundled_model_has_its_lookup_rewritten() -> None:
    model = onnx.load(str(bundled_model_file()[0]))
    assert gather_before_dequantize(model) >= 1
    int8 = {
        init.name for init in model.graph.initializer if init.data_type == onnx.TensorProto.INT8
    }
    # The word embedding table is looked up as int8; nothing dequantizes it whole.
    looked_up = {node.input[0] for node in model.graph.node if node.op_type == "Gather"}
    assert "inner.embeddings.word_embeddings.weight_q" in looked_up & int8
    onnx.checker.check_model(model)
    assert gather_before_dequantize(model) == 0  # nothing left to rewrite


def test_document_vectors_are_bit_identical() -> None:
    path = bundled_model_file()[0]
    tokenizer = bundled_tokenizer_file()
    shipped = OnnxSentenceModel(path, tokenizer, intra_op_threads=2)
    lean = OnnxSentenceModel(lean_model(path), tokenizer, intra_op_threads=2)
    # One batch (padded rows) and one text at a time: both ways the server embeds.
    assert np.array_equal(_bits(shipped.encode(TEXTS)), _bits(lean.encode(TEXTS)))
    for text in TEXTS:
        assert np.array_equal(_bits(shipped.encode([text])), _bits(lean.encode([text])))


def test_query_vectors_are_bit_identical() -> None:
    path = bundled_model_file()[0]
    tokenizer = bundled_tokenizer_file()
    model = onnx.load(str(path))
    rewrite_weight_matmuls(model)
    matmuls_only = OnnxSentenceModel(model.SerializeToString(), tokenizer, intra_op_threads=1)
    both = OnnxSentenceModel(int8_matmul_model(path), tokenizer, intra_op_threads=1)
    for text in TEXTS:
        assert np.array_equal(_bits(matmuls_only.encode([text])), _bits(both.encode([text])))


def test_an_unreadable_model_is_left_to_onnx_runtime(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    assert lean_model(garbage) == garbage


def test_session_keeps_no_copy_of_the_model_bytes() -> None:
    path = bundled_model_file()[0]
    model = OnnxSentenceModel(int8_matmul_model(path), bundled_tokenizer_file())
    # onnxruntime's Python session would hold the 23 MB it was built from.
    held = [
        name
        for name, value in vars(model._session).items()
        if isinstance(value, (bytes, bytearray)) and len(value) > 1 << 20
    ]
    assert held == []
