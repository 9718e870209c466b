# Monitoring (issue #18): monitoring/prometheus.yml, its recording and alerting rules with
# their promtool unit tests, and the Grafana dashboards. promtool and the Prometheus server
# the integration tests start come from Debian's `prometheus` package (2.42), installed
# with apt-get when missing (which needs root).

PROMTOOL ?= promtool

TEST_TARGETS += test-monitoring

.PHONY: monitoring-tools test-monitoring

# tests/integration/test_monitoring.py starts a real Prometheus, so pytest needs it too.
test test-integration: monitoring-tools

monitoring-tools: ## Install Debian's prometheus package (prometheus, promtool) if missing (as root)
	@if command -v $(PROMTOOL) >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "monitoring-tools: promtool/prometheus are missing and installing them needs root: run 'apt-get install prometheus' as root" >&2; exit 1; \
	fi; \
	echo "monitoring-tools: installing Debian's prometheus package"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null \
	  || { echo "monitoring-tools: apt-get could not install prometheus (see above)" >&2; exit 1; }; \
	command -v $(PROMTOOL) >/dev/null 2>&1 || { echo "monitoring-tools: promtool still missing after installing prometheus" >&2; exit 1; }

test-monitoring: monitoring-tools ## promtool check config and test rules on monitoring/
	$(PROMTOOL) check config monitoring/prometheus.yml
	$(PROMTOOL) test rules monitoring/tests/*.yml
