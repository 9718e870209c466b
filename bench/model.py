"""The server's own embedding model, for benchmark scripts that embed outside the server.

Kept apart from common.py, which mem0_runner.py imports inside .venv-mem0 (no server there).
"""

from __future__ import annotations

import numpy as np

from mem0stack_server.embed._onnx_model import (
    OnnxSentenceModel,
    bundled_model_file,
    bundled_tokenizer_file,
)

BATCH = 64


def bundled_model() -> OnnxSentenceModel:
    """The int8 ONNX MiniLM the server embeds with by default."""
    path, _, _ = bundled_model_file()
    return OnnxSentenceModel(path, bundled_tokenizer_file())


def encode(texts: list[str]) -> np.ndarray:
    """The texts' embeddings (one row each), in batches of BATCH."""
    model = bundled_model()
    return np.vstack([model.encode(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)])
