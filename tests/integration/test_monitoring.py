"""monitoring/ against the real thing: a server and Envoy running, and a real Prometheus.

- Every metric name in a Grafana panel or a rule's PromQL is one the server or Envoy
  exports (read from their own /metrics, not from a list), so a renamed metric fails here
  rather than leaving an empty dashboard. Recording-rule names must be recorded.
- Every alert links a runbook section that docs/operations.md has.
- Debian's Prometheus, started on a free port with the repository's rules, scrapes the
  server and Envoy; a PromQL query returns the calls this test made.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.envoy import EnvoyProcess
from tests.support.servers import ServerProcess, free_port

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "monitoring"
DASHBOARDS = sorted((MONITORING / "grafana" / "dashboards").glob("*.json"))
RULE_FILES = sorted((MONITORING / "rules").glob("*.yml"))
PROMETHEUS = shutil.which("prometheus")

# Series Prometheus makes itself for every target.
SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "bool", "offset"}
KEYWORDS |= {"group_left", "group_right", "inf", "nan"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")


def metric_names(expr: str) -> set[str]:
    """The series names ``expr`` reads: what is left once strings, label matchers,
    ranges, grouping clauses, functions and keywords are taken out."""
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = _GROUPING.sub(" ", text)
    return {name for name in _NAME.findall(text) if name.lower() not in KEYWORDS}


def exported_names(text: str) -> set[str]:
    """Series names a /metrics page offers, as Prometheus stores them: every sample's
    name, and the names of families declared (``# TYPE``) without samples yet."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            suffixes = ("_bucket", "_sum", "_count") if kind in ("histogram", "summary") else ("",)
            names.update(name + suffix for suffix in suffixes)
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def panel_exprs(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for panel in dashboard["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            for target in inner.get("targets", []):
                yield inner["title"], target["expr"]


def rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as reply:
        return str(reply.read().decode())


@pytest.fixture(scope="module")
def stack(make_database) -> Iterator[tuple[ServerProcess, EnvoyProcess, int]]:  # type: ignore[no-untyped-def]
    metrics_port = free_port()
    server = ServerProcess(
        database_url=make_database("monitoring"),
        port=free_port(),
        env={"MEM0STACK_METRICS_LISTEN": f"127.0.0.1:{metrics_port}"},
    )
    server.start()
    envoy = EnvoyProcess(upstream=server.target)
    try:
        envoy.start()
        yield server, envoy, metrics_port
    finally:
        envoy.stop()
        server.stop()


def test_dashboards_and_rules_read_only_exported_metrics(
    stack: tuple[ServerProcess, EnvoyProcess, int], user_id: str
) -> None:
    _, envoy, metrics_port = stack
    # Envoy makes some statistics on first use (responses by class): use it once.
    assert envoy.request("GET", f"/v1/users/{user_id}/memories").status == 200
    exported = exported_names(get(f"http://127.0.0.1:{metrics_port}/metrics"))
    envoy_stats = envoy.admin("/stats/prometheus")
    assert envoy_stats, "Envoy's /stats/prometheus did not answer"
    exported |= exported_names(envoy_stats) | SYNTHETIC
    recorded = {rule["record"] for rule in rules() if "record" in rule}

    assert len(DASHBOARDS) >= 3
    unknown = []
    checked = 0
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        for title, expr in panel_exprs(dashboard):
            checked += 1
            for name in metric_names(expr) - exported - recorded:
                unknown.append((path.name, title, name))
    for rule in rules():
        for name in metric_names(rule["expr"]) - exported - recorded:
            unknown.append(("rules", rule.get("record") or rule["alert"], name))
    assert checked > 30
    assert not unknown, f"PromQL naming metrics nobody exports: {unknown}"


def test_the_name_extraction_sees_through_promql() -> None:
    expr = (
        'sum by (grpc_method) (rate(grpc_server_handled_total{grpc_code=~"OK|by"}[5m])) '
        "/ on (grpc_method) group_left mem0stack:grpc_requests:rate5m > 0.05 and "
        "histogram_quantile(0.99, sum by (le) (rate(mem0stack_search_seconds_bucket[1h])))"
    )
    assert metric_names(expr) == {
        "grpc_server_handled_total",
        "mem0stack:grpc_requests:rate5m",
        "mem0stack_search_seconds_bucket",
    }


def test_dashboards_are_provisionable() -> None:
    uids = set()
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"] not in uids
        uids.add(dashboard["uid"])
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids)), path.name
        # Grafana lists dashboards by title: each names the product and is no panel's.
        assert dashboard["title"].startswith("mem0-stack: "), path.name
        titles = [panel["title"] for panel in dashboard["panels"]]
        assert dashboard["title"] not in titles, path.name
        # Panels of one row do not overlap (a panel added beside others must make room).
        cells = [
            (panel["gridPos"]["y"] + dy, panel["gridPos"]["x"] + dx)
            for panel in dashboard["panels"]
            for dy in range(panel["gridPos"]["h"])
            for dx in range(panel["gridPos"]["w"])
        ]
        assert len(cells) == len(set(cells)), f"{path.name}: panels overlap"
        for panel in dashboard["panels"]:
            if panel["type"] != "row":
                assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}
                assert panel["targets"], f"{path.name}: {panel['title']} has no query"
    provider = yaml.safe_load((MONITORING / "grafana/provisioning/dashboards.yaml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards/mem0stack"
    compose = (REPO / "deploy" / "compose.yaml").read_text()
    assert "../monitoring/grafana/dashboards:/var/lib/grafana/dashboards/mem0stack" in compose
    assert "../monitoring/rules:/etc/prometheus/rules" in compose


def test_every_alert_links_its_runbook() -> None:
    docs = (REPO / "docs" / "operations.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in docs.splitlines()
        if line.startswith("#")
    }
    alerts = [rule for rule in rules() if "alert" in rule]
    assert len(alerts) >= 10
    for rule in alerts:
        url = rule["annotations"]["runbook_url"]
        page, _, anchor = url.partition("#")
        assert page == "docs/operations.md" and anchor in anchors, (rule["alert"], url)
        assert anchor == rule["alert"].lower()
    tests = (MONITORING / "tests" / "alerts_test.yml").read_text()
    untested = [rule["alert"] for rule in alerts if f"alertname: {rule['alert']}" not in tests]
    assert not untested


@pytest.mark.skipif(PROMETHEUS is None, reason="no prometheus binary: run `make monitoring-tools`")
def test_real_prometheus_counts_the_calls_made(
    stack: tuple[ServerProcess, EnvoyProcess, int], user_id: str
) -> None:
    _, envoy, metrics_port = stack
    workdir = Path(tempfile.mkdtemp(prefix="mem0stack-prometheus-"))
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(path) for path in RULE_FILES],
        "scrape_configs": [
            {
                "job_name": "mem0stack",
                "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}],
            },
            {
                "job_name": "envoy",
                "metrics_path": "/stats/prometheus",
                "static_configs": [{"targets": [f"127.0.0.1:{envoy.admin_port}"]}],
            },
        ],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = (workdir / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            str(PROMETHEUS),
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def query(promql: str) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        try:
            answer = json.loads(get(url))
        except OSError:
            return []
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def until(promql: str, check: Any, what: str, timeout_s: float = 30) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        result: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            assert process.poll() is None, (workdir / "prometheus.log").read_text()
            result = query(promql)
            if result and check(result):
                return result
            time.sleep(0.5)
        raise AssertionError(f"{what}: {promql} gave {result}")

    try:
        until('up{job="mem0stack"} == 1', bool, "the server scraped")
        until('up{job="envoy"} == 1', bool, "Envoy scraped")
        value = lambda result: float(result[0]["value"][1])  # noqa: E731
        counted = 'sum(grpc_server_handled_total{grpc_method="CreateMemory",grpc_code="OK"})'
        calls = 0
        # One call, seen scraped, then four: the counter's series exists before they come,
        # so the recording rule's rate sees them.
        for batch in (1, 4):
            for _ in range(batch):
                created = envoy.request(
                    "POST", f"/v1/users/{user_id}/memories", {"content": f"Fact number {calls}"}
                )
                assert created.status == 200, created.body
                calls += 1
            until(
                counted,
                lambda result: value(result) == calls,  # noqa: B023
                "the calls counted by the server",
            )
        until(
            'sum(envoy_http_downstream_rq_total{job="envoy"})',
            lambda result: value(result) >= calls,
            "the calls counted by Envoy",
        )
        # The repository's recording rules run on what was scraped.
        until(
            'mem0stack:grpc_requests:rate5m{grpc_method="CreateMemory"}',
            lambda result: value(result) > 0,
            "the recording rule evaluated",
        )
    finally:
        process.terminate()
        process.wait(10)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)
