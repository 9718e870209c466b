"""Pieces of the load benchmarks (bench/bench_load.py): the processes measured, the
closed-loop asyncio clients, the two systems' client backends and mem0's HTTP server."""
