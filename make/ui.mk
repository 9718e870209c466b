# The web UI (issue #20): a React + TypeScript single-page app under ui/, built by Vite into
# ui/dist, which the server's platform port serves and Envoy routes to at / of the gateway
# (docs/ui.md). Pins: every npm package in ui/package-lock.json (npm ci). The generated
# client code is the TypeScript client's, clients/ts/src/gen (make generate), imported in place.
#
# Its tests: component tests with Vitest in jsdom, and the end-to-end suite
# (tests/ui/test_ui_e2e.py) driving Debian's chromium with playwright-core against a real
# server, Neo4j and Envoy. The browser is Debian's package, installed with apt-get when
# missing (as root); nothing is downloaded at run time.

NPM ?= npm
CHROMIUM ?= /usr/bin/chromium
UI_STAMP := ui/node_modules/.installed-stamp
UI_SOURCES := $(shell find ui/src ui/public -type f 2>/dev/null) ui/index.html ui/vite.config.ts ui/tsconfig.json \
  $(wildcard clients/ts/src/*.ts) $(shell find clients/ts/src/gen -type f 2>/dev/null)

TEST_TARGETS += test-ui

.PHONY: ui ui-for-run ui-tools test-ui

# `make run` serves the UI at http://localhost:8080/, so it builds it first; without Node and
# npm it still runs the server and the gateway, and says why there is no UI.
run: ui-for-run

ui-for-run:
	@if command -v $(NPM) >/dev/null 2>&1; then $(MAKE) --no-print-directory ui; \
	else echo "make run: npm is missing, so the web UI is not built (Node 20 and npm build it: make ui)" >&2; fi

$(UI_STAMP): ui/package.json ui/package-lock.json
	cd ui && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@

ui/dist/index.html: $(UI_STAMP) $(UI_SOURCES)
	cd ui && npx --no-install tsc -p tsconfig.json --noEmit && npx --no-install vite build --logLevel warn
	touch $@

ui: ui/dist/index.html ## Build the web UI into ui/dist (npm ci, tsc, vite build)

ui-tools: ## Install Debian's chromium (for the UI's end-to-end tests) if missing (as root)
	@if [ -x $(CHROMIUM) ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "ui-tools: $(CHROMIUM) is missing and installing it needs root: run 'apt-get install chromium' as root" >&2; exit 1; \
	fi; \
	echo "ui-tools: installing Debian's chromium package"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null \
	  || { echo "ui-tools: apt-get could not install chromium (see above)" >&2; exit 1; }; \
	[ -x $(CHROMIUM) ] || { echo "ui-tools: $(CHROMIUM) still missing after installing chromium" >&2; exit 1; }

test-ui: setup ui ui-tools ## The UI's component tests (vitest) and end-to-end tests (Chromium, server, Envoy)
	cd ui && npx --no-install vitest run
	MEM0STACK_UI_E2E=1 MEM0STACK_TEST_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest tests/ui -q
