"""Query embedding on this CPU: the float path, and int8 compute with each weight type.

The server embeds a search query with int8 compute (embed/_int8_graph.py) and picks the
weight type by a probe: int8 weights where the CPU sums uint8 x int8 products exactly
(VNNI), uint8 weights where it saturates (x86 without VNNI). This prints, for LoCoMo's
questions, the median time per query of each variant on one and two threads, its cosine to
the float vector, and which variant the server uses here.

    .venv/bin/python -m bench.bench_embed [--data DIR] [--queries 600]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from rich.table import Table

from bench.common import LOCOMO, load_locomo, machine, wide_console
from mem0stack_server.embed._int8_graph import int8_matmul_model, int8_products_saturate
from mem0stack_server.embed._onnx_model import (
    OnnxSentenceModel,
    bundled_model_file,
    bundled_tokenizer_file,
)


def questions(data: Path, limit: int) -> list[str]:
    texts = [q.question for c in load_locomo(data) for q in c.questions]
    return texts[:limit]


def timed(model: OnnxSentenceModel, texts: list[str]) -> tuple[float, np.ndarray]:
    """Median milliseconds per single-text run, and the vectors."""
    model.encode(texts[:5])  # warm up
    times, vectors = [], []
    for text in texts:
        start = time.perf_counter()
        vectors.append(model.encode([text])[0])
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, np.vstack(vectors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=LOCOMO, help="LoCoMo directory")
    parser.add_argument("--queries", type=int, default=600, help="questions to embed")
    args = parser.parse_args()
    texts = questions(args.data, args.queries)
    path, _, _ = bundled_model_file()
    tokenizer = bundled_tokenizer_file()
    saturates = int8_products_saturate()
    console = wide_console()
    console.print(machine())
    console.print(
        f"uint8 x int8 kernel saturates here: {saturates}; the server's queries use "
        f"{'uint8' if saturates else 'int8'} weights"
    )
    rows: list[tuple[str, int, float, np.ndarray]] = []
    for threads in (1, 2):
        float_model = OnnxSentenceModel(path, tokenizer, intra_op_threads=threads)
        rows.append(
            ("float (documents; queries without int8)", threads, *timed(float_model, texts))
        )
        for unsigned in (False, True):
            model = OnnxSentenceModel(
                int8_matmul_model(path, unsigned_weights=unsigned),
                tokenizer,
                intra_op_threads=threads,
            )
            used = " (used here)" if unsigned == saturates and threads == 1 else ""
            name = f"int8 compute, {'uint8' if unsigned else 'int8'} weights{used}"
            rows.append((name, threads, *timed(model, texts)))
    table = Table(title=f"Query embedding, {len(texts)} LoCoMo questions, one per run")
    for column in (
        "variant",
        "threads",
        "median ms",
        "vs float, same threads",
        "cosine min / median",
    ):
        table.add_column(column)
    floats = {
        threads: (ms, vectors) for name, threads, ms, vectors in rows if name.startswith("float")
    }
    for name, threads, ms, vectors in rows:
        base_ms, base = floats[threads]
        cosines = np.sum(vectors * base, axis=1)
        table.add_row(
            name,
            str(threads),
            f"{ms:.2f}",
            f"{base_ms / ms:.2f}x",
            f"{cosines.min():.3f} / {np.median(cosines):.4f}",
        )
    console.print(table)


if __name__ == "__main__":
    main()
