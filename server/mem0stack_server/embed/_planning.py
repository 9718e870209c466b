"""How to cut one batch of tokenised texts into ONNX runs.

A run costs a fixed overhead (about 2.5 ms on the 2-core target, roughly the price of
16 tokens) plus time proportional to its *padded* size, rows x longest row. When a
coalesced batch mixes a 10-token query with a 250-token note, padding the query to 250
wastes most of the run, so texts are sorted by length and split where that is cheaper
than padding. Padding does not change a text's vector (the attention mask hides it),
so the split is purely a speed choice.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Fixed cost of one ONNX run, in tokens of work (measured: ~2.5 ms vs ~0.16 ms/token).
RUN_OVERHEAD_TOKENS = 16.0
#: Attention grows with length squared; at 256 tokens a token costs ~1.5x one at 16.
_QUADRATIC_LENGTH = 512.0


def plan_runs(
    lengths: Sequence[int], overhead_tokens: float = RUN_OVERHEAD_TOKENS
) -> list[list[int]]:
    """Group text indices into runs so the estimated total cost is minimal.

    ``lengths`` are token counts. Returns lists of indices into ``lengths``; each list
    is sorted by length, and together they cover every index exactly once.
    """
    count = len(lengths)
    if count <= 1:
        return [list(range(count))]
    order = sorted(range(count), key=lambda i: lengths[i])
    sorted_len = np.array([lengths[i] for i in order], dtype=np.float64)
    # Per-token weight of a run padded to length L.
    weight = sorted_len * (1.0 + sorted_len / _QUADRATIC_LENGTH)
    # best[i]: cheapest plan for the i shortest texts; cut[i]: where its last run starts.
    best = np.zeros(count + 1)
    cut = np.zeros(count + 1, dtype=np.int64)
    starts = np.arange(count)
    for end in range(1, count + 1):
        # Last run = sorted texts [start, end); its padded length is sorted_len[end-1].
        costs = best[:end] + overhead_tokens + (end - starts[:end]) * weight[end - 1]
        start = int(np.argmin(costs))
        best[end] = costs[start]
        cut[end] = start
    runs: list[list[int]] = []
    end = count
    while end > 0:
        start = int(cut[end])
        runs.append(order[start:end])
        end = start
    runs.reverse()
    return runs
