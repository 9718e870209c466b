"""Memory at rest (issue #22): a real dev-mode server's resident memory once it is idle.

Starts ``mem0stack serve`` as users first meet it: an empty data directory, so the
embedded PostgreSQL, the local embedder, no LLM. Once the server answers its health check
and has stopped using CPU (start-up work done), it prints the server process's VmRSS
(resident now) and VmHWM (the peak, reached while loading the model), and PostgreSQL's
separately: its processes share memory, so their sum is given as PSS (each shared page
divided among the processes mapping it) beside the postmaster's own VmRSS.

    .venv/bin/python -m bench.bench_rss [--runs 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import machine, write_json
from tests.support.servers import ServerProcess, free_port

#: Server CPU time (seconds) over one idle window below which it counts as at rest.
IDLE_CPU_S = 0.05
IDLE_WINDOW_S = 2.0


def status_mib(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of ``pid`` from /proc, in MiB."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values


def pss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    # utime and stime are fields 14 and 15; the command name before them may hold spaces.
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / 100  # USER_HZ is 100 on Linux


def postgres_pids(data_dir: Path) -> list[int]:
    """The PostgreSQL processes of the server's embedded cluster: the postmaster (its
    command line names the data directory) and its children."""
    postmaster = None
    parents: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            stat = (proc / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # exited meanwhile
        parents[int(proc.name)] = int(stat[1])
        if "postgres" in cmdline and str(data_dir) in cmdline and " -D " in cmdline:
            postmaster = int(proc.name)
    if postmaster is None:
        return []
    return [postmaster] + [pid for pid, parent in parents.items() if parent == postmaster]


def wait_idle(pid: int, timeout_s: float = 60.0) -> float:
    """Wait until ``pid`` uses under IDLE_CPU_S of CPU in an IDLE_WINDOW_S window."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        before = cpu_seconds(pid)
        time.sleep(IDLE_WINDOW_S)
        if cpu_seconds(pid) - before < IDLE_CPU_S:
            break
    return time.monotonic() - started


def one_run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-rss-") as tmp:
        data_dir = Path(tmp)
        server = ServerProcess(None, free_port(), env={"MEM0STACK_DATA_DIR": str(data_dir)})
        t0 = time.monotonic()
        server.start(timeout_s=180)
        serving_s = time.monotonic() - t0
        assert server.process is not None
        pid = server.process.pid
        try:
            idle_s = wait_idle(pid)
            own = status_mib(pid)
            pg = postgres_pids(data_dir)
            return {
                "serving_s": round(serving_s, 1),
                "idle_after_s": round(idle_s, 1),
                "server_rss_mib": round(own["VmRSS"], 1),
                "server_hwm_mib": round(own["VmHWM"], 1),
                "server_pss_mib": round(pss_mib(pid), 1),
                "postgres_processes": len(pg),
                "postgres_pss_mib": round(sum(pss_mib(p) for p in pg), 1),
                "postmaster_rss_mib": round(status_mib(pg[0])["VmRSS"], 1) if pg else None,
            }
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="servers started one after another")
    parser.add_argument("--json", type=Path, default=None, help="write the results here too")
    args = parser.parse_args()
    print("machine:", machine())
    runs = []
    for n in range(args.runs):
        run = one_run()
        runs.append(run)
        print(f"run {n + 1}:", run, flush=True)
    keys = ("server_rss_mib", "server_hwm_mib", "postgres_pss_mib")
    median = {key: statistics.median(run[key] for run in runs) for key in keys}
    print("median:", median)
    write_json(args.json, {"machine": machine(), "runs": runs, "median": median})


if __name__ == "__main__":
    main()
