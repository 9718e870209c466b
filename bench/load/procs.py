"""CPU time and memory of the processes under load, read from /proc (Linux only).

CPU is ``utime + stime`` of /proc/<pid>/stat (every thread of the process), so a figure
over an interval is "cores busy on average": 1.0 is one core fully used.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.common import embedded_postgres_in

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    # What is left starts at field 3 (state), so field n is at index n - 3.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int, *, reaped_children: bool = False) -> float:
    """The process's CPU seconds so far; with ``reaped_children``, also those of the
    children it has waited for (cutime + cstime: PostgreSQL's exited backends)."""
    fields = _stat(pid)
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICK


def children(pid: int) -> list[int]:
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat(int(entry.name))[1]) == pid:
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                continue  # exited while we looked
    return found


def tree_cpu_seconds(pid: int) -> float:
    """A PostgreSQL postmaster and its backends: the live ones and the exited ones."""
    total = cpu_seconds(pid, reaped_children=True)
    for child in children(pid):
        try:
            total += cpu_seconds(child)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    """Resident memory now (VmRSS) or at its peak (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has spent busy (not idle, not waiting for
    I/O), from /proc/stat: set beside ours, it shows what other processes took."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    # guest time (fields 9 and 10) is already counted in user and nice
    return (sum(values[:8]) - idle) / _TICK


@dataclass
class Sample:
    at: float
    server_cpu: float
    postgres_cpu: float
    generator_cpu: float
    machine_cpu: float


@dataclass
class Usage:
    """What one interval cost, in cores busy on average, and the servers' memory at its end."""

    seconds: float
    server_cores: float
    postgres_cores: float
    generator_cores: float
    machine_cores: float
    server_rss_mib: float
    server_peak_rss_mib: float


class Meter:
    """Samples the servers (summed: two mem0-stack processes, or mem0 and its embeddings
    server), PostgreSQL (postmaster and backends) and this process (the load generator,
    gRPC's own threads included)."""

    def __init__(self, server_pids: Sequence[int], postmaster_pid: int | None) -> None:
        self.server_pids = list(server_pids)
        self.postmaster_pid = postmaster_pid

    def sample(self) -> Sample:
        own = os.times()
        return Sample(
            at=time.perf_counter(),
            server_cpu=sum(cpu_seconds(p) for p in self.server_pids),
            postgres_cpu=tree_cpu_seconds(self.postmaster_pid) if self.postmaster_pid else 0.0,
            generator_cpu=own.user + own.system,
            machine_cpu=machine_busy_seconds(),
        )

    def usage(self, start: Sample, end: Sample | None = None) -> Usage:
        end = end or self.sample()
        seconds = max(end.at - start.at, 1e-9)
        return Usage(
            seconds=seconds,
            server_cores=(end.server_cpu - start.server_cpu) / seconds,
            postgres_cores=(end.postgres_cpu - start.postgres_cpu) / seconds,
            generator_cores=(end.generator_cpu - start.generator_cpu) / seconds,
            machine_cores=(end.machine_cpu - start.machine_cpu) / seconds,
            server_rss_mib=sum(rss_mib(p) for p in self.server_pids),
            server_peak_rss_mib=sum(rss_mib(p, "VmHWM") for p in self.server_pids),
        )


@contextmanager
def postgres(prefix: str) -> Iterator[tuple[str, int | None]]:
    """A throw-away PostgreSQL 16 + pgvector (pgserver), as bench.common.embedded_postgres,
    but also yielding the postmaster's pid so its CPU can be measured."""
    with embedded_postgres_in(prefix) as (uri, data_dir):
        pid_file = data_dir / "postmaster.pid"
        yield uri, int(pid_file.read_text().split()[0]) if pid_file.exists() else None
