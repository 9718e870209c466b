# mem0's own clients against the mem0 Platform routes (issue #19). The tests run in the root
# pytest run (tests/clients/test_platform_*.py); they need mem0's Python client in its own
# environment (.venv-mem0, mem0ai pinned in bench/requirements-mem0.txt: it needs
# protobuf < 7) and mem0's npm client (mem0ai, pinned by tests/platform_js/package-lock.json,
# installed by `npm ci` without install scripts or peer dependencies, see its .npmrc).
# `make test` installs both first.

PLATFORM_JS_STAMP := tests/platform_js/node_modules/.installed-stamp

.PHONY: platform-clients test-platform

$(PLATFORM_JS_STAMP): tests/platform_js/package.json tests/platform_js/package-lock.json tests/platform_js/.npmrc
	cd tests/platform_js && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@

platform-clients: $(MEM0_STAMP) $(PLATFORM_JS_STAMP) ## Install mem0's pinned Python and npm clients for the platform tests

# Extra prerequisites of `make test` (the root Makefile's rule keeps its recipe).
test: platform-clients

test-platform: setup platform-clients ## mem0's Python and npm clients against the mem0 Platform routes
	$(BIN)/python -m pytest tests/clients/test_platform_errors.py tests/clients/test_platform_python.py \
	  tests/clients/test_platform_js.py tests/clients/test_platform_docs.py \
	  tests/clients/test_platform_congruence.py tests/unit/test_platform_filters.py
