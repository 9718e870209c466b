"""One sample of a test server's Prometheus metrics."""

from __future__ import annotations

import urllib.request


def metric_value(port: int, name: str, **labels: str) -> float | None:
    """The value of sample ``name`` with exactly ``labels`` (given in the order the metric
    declares them) on the metrics endpoint at ``port``, or None when there is none."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    selector = ",".join(f'{k}="{v}"' for k, v in labels.items())
    wanted = f"{name}{{{selector}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.rsplit(" ", 1)[1])
    return None
