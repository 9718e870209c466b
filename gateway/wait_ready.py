"""Say when `make run` is ready: when REST through Envoy answers, not before.

The server reports SERVING before Envoy has health-checked it, and until then Envoy answers
REST calls with 503 "no healthy upstream". This waits until a REST call through Envoy gets an
answer from the server itself (any status but 503: 401 is an answer too, on a server with
keys), then prints where everything listens and how to move it. It exits 1 with a message if
that takes longer than --timeout.

    python gateway/wait_ready.py [--timeout 120]

Addresses come from the same environment variables the server and gateway/run_envoy.sh read.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.error
import urllib.request

#: A cheap read that every server answers: a one-item page of a user's memories.
PROBE_PATH = "/v1/users/make-run-probe/memories?page_size=1"


def addresses() -> dict[str, str]:
    """Every address `make run` serves on, by the environment variable that moves it."""
    return {
        "MEM0STACK_LISTEN": os.environ.get("MEM0STACK_LISTEN", "localhost:50051"),
        "MEM0STACK_GATEWAY_LISTEN": os.environ.get("MEM0STACK_GATEWAY_LISTEN", "localhost:8080"),
        "MEM0STACK_GATEWAY_ADMIN": os.environ.get("MEM0STACK_GATEWAY_ADMIN", "localhost:9901"),
        "MEM0STACK_METRICS_LISTEN": os.environ.get("MEM0STACK_METRICS_LISTEN", "localhost:9464"),
    }


def rest_answers(gateway: str) -> bool:
    """Whether a REST call through Envoy reached the server (anything but 503 or no answer)."""
    try:
        with urllib.request.urlopen(f"http://{gateway}{PROBE_PATH}", timeout=2) as response:
            return bool(response.status < 500)
    except urllib.error.HTTPError as error:
        return error.code != 503
    except (urllib.error.URLError, OSError):
        return False


def banner(where: dict[str, str]) -> str:
    metrics = where["MEM0STACK_METRICS_LISTEN"]
    rows = [
        ("gRPC", where["MEM0STACK_LISTEN"], "MEM0STACK_LISTEN"),
        ("REST and gRPC (Envoy)", where["MEM0STACK_GATEWAY_LISTEN"], "MEM0STACK_GATEWAY_LISTEN"),
        (
            "mem0 MemoryClient host",
            f"http://{where['MEM0STACK_GATEWAY_LISTEN']}",
            "MEM0STACK_GATEWAY_LISTEN",
        ),
        ("Envoy admin", where["MEM0STACK_GATEWAY_ADMIN"], "MEM0STACK_GATEWAY_ADMIN"),
        (
            "Prometheus metrics",
            f"http://{metrics}/metrics" if metrics else "off",
            "MEM0STACK_METRICS_LISTEN",
        ),
    ]
    lines = ["mem0-stack is ready:"]
    lines += [f"  {what:<22} {address:<34} (move with {env})" for what, address, env in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait [120]")
    args = parser.parse_args()
    where = addresses()
    deadline = time.monotonic() + args.timeout
    while not rest_answers(where["MEM0STACK_GATEWAY_LISTEN"]):
        if time.monotonic() > deadline:
            print(
                f"not ready after {args.timeout:.0f} s: REST through Envoy on "
                f"{where['MEM0STACK_GATEWAY_LISTEN']} does not answer; see the logs above",
                file=sys.stderr,
            )
            return 1
        time.sleep(0.2)
    print(banner(where), file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
