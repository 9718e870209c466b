IMPORT_MEMORIES ?= 50000
# The benchmark suite (issue #9): mem0-stack against mem0 on the same machine, retrieval
# quality on LoCoMo and BEAM, and mem0-stack alone at 1,000,000 memories. Benchmarks are scripts
# that print figures, not tests: `make test` never runs them. docs/benchmarks.md records
# their results.
#
# mem0ai needs protobuf < 7, so it lives in its own environment, .venv-mem0, installed
# from bench/requirements-mem0.txt (every package pinned; no torch: mem0 embeds
# through bench/embed_server.py, which serves mem0-stack's own ONNX embeddings).

MEM0_VENV := .venv-mem0
MEM0_STAMP := $(MEM0_VENV)/.installed-stamp
# Knobs: the LoCoMo directory (any folder of LoCoMo conversation *.json files), the BEAM
# directory (holding chats/100K/), extra options of both retrieval benchmarks (e.g.
# RETRIEVAL_FLAGS='--variant no-context:SEARCH_CONTEXT_WEIGHT=0', or --no-mem0),
# where JSON results go, the comparison sizes and the scale test's size.
LOCOMO_DATA ?= $(abspath ../shared/data/locomo)
BEAM_DATA ?= $(abspath ../shared/data/beam)
RETRIEVAL_FLAGS ?=
BENCH_OUT ?= build/bench
BENCH_SIZES ?= 1000,10000,100000
SCALE_MEMORIES ?= 1000000
SCALE_EF_SEARCH ?= 40,100,200,400
# The load benchmarks (bench/bench_load.py): seconds per throughput point, client counts,
# and the soak's length and report interval.
LOAD_SECONDS ?= 30
LOAD_CLIENTS ?= 1,8,32,128
SOAK_MINUTES ?= 10
SOAK_REPORT_SECONDS ?= 60

.PHONY: bench-setup bench bench-server bench-import bench-compare bench-locomo bench-beam bench-scale bench-embed bench-rss \
	bench-throughput bench-soak

$(MEM0_STAMP): bench/requirements-mem0.txt
	test -x $(MEM0_VENV)/bin/python || $(PYTHON) -m venv $(MEM0_VENV)
	$(MEM0_VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -r bench/requirements-mem0.txt
	touch $@

bench-setup: setup $(MEM0_STAMP) ## Create .venv-mem0 (mem0ai 2.2.1, pinned) for the comparisons

bench: bench-setup ## Run the whole benchmark suite (long: the 1M scale test alone takes about an hour)
	$(MAKE) --no-print-directory bench-embed bench-rss bench-server bench-import bench-compare bench-locomo bench-beam bench-scale \
		bench-throughput bench-soak

bench-server: setup ## mem0-stack alone: 10,000 memories, 1,000 searches per mode
	$(BIN)/python -m bench.bench_server --data $(LOCOMO_DATA)

bench-import: setup ## ImportMemories throughput beside the embedder's raw batch throughput (IMPORT_MEMORIES)
	$(BIN)/python -m bench.bench_import --memories $(IMPORT_MEMORIES) --data $(LOCOMO_DATA)

bench-compare: bench-setup ## mem0-stack vs mem0: add latency, ingest throughput, search at BENCH_SIZES
	$(BIN)/python -m bench.bench_compare --data $(LOCOMO_DATA) --sizes $(BENCH_SIZES) --json $(BENCH_OUT)/compare.json

bench-locomo: bench-setup ## LoCoMo retrieval (turns with/without runs, observation facts): mem0-stack, baselines, mem0
	$(BIN)/python -m bench.bench_locomo --data $(LOCOMO_DATA) --json $(BENCH_OUT)/locomo.json $(RETRIEVAL_FLAGS)

bench-beam: bench-setup ## BEAM retrieval (every message a memory): mem0-stack, baselines and mem0
	$(BIN)/python -m bench.bench_beam --data $(BEAM_DATA) --json $(BENCH_OUT)/beam.json $(RETRIEVAL_FLAGS)

bench-scale: setup ## mem0-stack at SCALE_MEMORIES: search p50/p99, HNSW recall@10, index build time and size
	$(BIN)/python -m bench.bench_scale --memories $(SCALE_MEMORIES) --ef-search $(SCALE_EF_SEARCH) --json $(BENCH_OUT)/scale.json

bench-embed: setup ## Query embedding on this CPU: float vs int8 compute with int8 and uint8 weights
	$(BIN)/python -m bench.bench_embed --data $(LOCOMO_DATA)

bench-throughput: bench-setup ## Requests/s at LOAD_CLIENTS clients, search and mixed: mem0-stack x1, x2, mem0
	$(BIN)/python -m bench.bench_load throughput --data $(LOCOMO_DATA) --seconds $(LOAD_SECONDS) \
		--clients $(LOAD_CLIENTS) --json $(BENCH_OUT)/throughput.json

bench-soak: setup ## 32 clients of mixed load for SOAK_MINUTES: per-minute figures, server RSS trend
	$(BIN)/python -m bench.bench_load soak --data $(LOCOMO_DATA) --minutes $(SOAK_MINUTES) \
		--report-seconds $(SOAK_REPORT_SECONDS) --json $(BENCH_OUT)/soak.json

bench-rss: setup ## Memory at rest: a dev-mode server's VmRSS/VmHWM when idle, and its PostgreSQL's
	$(BIN)/python -m bench.bench_rss --json $(BENCH_OUT)/rss.json
