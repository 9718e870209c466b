"""Check the Helm chart offline: ``helm lint``, and every rendering validated.

For each set of values (the defaults, each example in deploy/helm/examples/, and a minimal
set with every optional part off) and each Kubernetes version: ``helm lint --strict``,
``helm template`` piped into kubeconform -strict against the schemas laid out by
scripts/k8s_schemas.py, and into crdcheck (deploy/tools/crdcheck) for the Prometheus
Operator kinds kubeconform has no schema for. Then the Envoy configuration the chart
renders is validated by Envoy itself, what the chart promises (drain timing, probes, the
upstream) is checked on the default rendering, and values the chart must refuse are
refused. ``make lint-helm`` runs it with the tools it built.
"""

from __future__ import annotations

import argparse
import base64
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "deploy" / "helm" / "mem0stack"
EXAMPLES = REPO / "deploy" / "helm" / "examples"
RELEASE = "mem0"
NAMESPACE = "memory"
MONITORING_KINDS = "monitoring.coreos.com/v1/ServiceMonitor,monitoring.coreos.com/v1/PrometheusRule"

# Every optional part off: the templates' other branches.
MINIMAL = [
    "gateway.enabled=false",
    "mcp.enabled=false",
    "autoscaling.enabled=false",
    "podDisruptionBudget.enabled=false",
    "networkPolicy.enabled=false",
    "serviceAccount.create=false",
    "database.url=postgresql://mem0@db:5432/mem0",
]
# Each must make `helm template` fail, with this text in its message.
REFUSED = {
    "mcp.apiKey=k": "mcp.apiKey needs mcp.user",
    "config.listen=0.0.0.0:1": "set it through the chart's own value",
    # values.schema.json: settings are named as in docs/configuration.md, and a misspelt
    # value is an error rather than ignored.
    "config.LLM_MODEL=x": 'Property name of "LLM_MODEL" does not match',
    "autoscalling.enabled=true": "Additional property autoscalling is not allowed",
    "server.drain.delaySeconds=-1": "Must be greater than or equal to 0",
}


class Tools:
    def __init__(self, args: argparse.Namespace) -> None:
        self.helm: str = args.helm
        self.kubeconform: str = args.kubeconform
        self.crdcheck: str = args.crdcheck
        self.envoy: str = args.envoy
        self.schemas: Path = args.schemas

    def template(self, values: Sequence[str], kube_version: str) -> str:
        return run(
            [
                self.helm,
                "template",
                RELEASE,
                str(CHART),
                "--namespace",
                NAMESPACE,
                "--kube-version",
                kube_version,
                *values,
            ]
        )

    def kubeconform_(self, manifests: str, kube_version: str) -> str:
        location = (
            f"{self.schemas.resolve()}/{{{{ .NormalizedKubernetesVersion }}}}-local"
            "{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json"
        )
        return run(
            [
                self.kubeconform,
                "-strict",
                "-summary",
                "-kubernetes-version",
                kube_version,
                "-schema-location",
                location,
                "-skip",
                MONITORING_KINDS,
                "-",
            ],
            stdin=manifests,
        )


def run(command: Sequence[str], stdin: str | None = None) -> str:
    result = subprocess.run(command, input=stdin, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(
            f"failed: {' '.join(command)}\n{result.stdout[-4000:]}{result.stderr[-4000:]}"
        )
    return result.stdout


def value_sets() -> dict[str, list[str]]:
    sets: dict[str, list[str]] = {"defaults": []}
    for example in sorted(EXAMPLES.glob("*.yaml")):
        sets[example.name] = ["--values", str(example)]
    sets["minimal"] = [arg for setting in MINIMAL for arg in ("--set", setting)]
    return sets


def documents(manifests: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(manifests) if doc]


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for doc in docs:
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"no {kind} {name} in the rendering")


def check_promises(docs: list[dict[str, Any]]) -> None:
    """What the default rendering must do, beyond being valid."""
    base = f"{RELEASE}-mem0stack"
    config = find(docs, "ConfigMap", f"{base}-config")["data"]
    pod = find(docs, "Deployment", f"{base}-server")["spec"]["template"]["spec"]
    server = pod["containers"][0]
    # The kubelet must wait for the whole drain: delay, calls, background operations.
    drain = float(config["MEM0STACK_DRAIN_DELAY_S"]) + 2 * float(config["MEM0STACK_GRACE_PERIOD_S"])
    assert pod["terminationGracePeriodSeconds"] > drain, (
        pod["terminationGracePeriodSeconds"],
        drain,
    )
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert server[probe]["grpc"] == {"port": 50051, "service": "mem0stack.v1.MemoryService"}
    assert config["MEM0STACK_LISTEN"] == "0.0.0.0:50051"
    # auth=keys: in development mode the server would listen on loopback only.
    assert config["MEM0STACK_AUTH"] == "keys"
    assert pod["securityContext"]["runAsNonRoot"] is True
    envoy = find(docs, "ConfigMap", f"{base}-gateway")["data"]["envoy.yaml"]
    upstream = f"{base}-server-headless.{NAMESPACE}.svc.cluster.local"
    assert f"{{address: {upstream}, port_value: 50051}}" in envoy, "Envoy's upstream"
    headless = find(docs, "Service", f"{base}-server-headless")
    assert headless["spec"]["clusterIP"] == "None"


def check_envoy(docs: list[dict[str, Any]], envoy: str) -> None:
    """Envoy accepts the configuration the chart renders, with the descriptor it ships."""
    config_map = find(docs, "ConfigMap", f"{RELEASE}-mem0stack-gateway")
    with tempfile.TemporaryDirectory() as tmp:
        descriptor = Path(tmp) / "mem0stack.binpb"
        descriptor.write_bytes(base64.b64decode(config_map["binaryData"]["mem0stack.binpb"]))
        config = config_map["data"]["envoy.yaml"].replace(
            "/etc/mem0stack-gateway/mem0stack.binpb", str(descriptor)
        )
        path = Path(tmp) / "envoy.yaml"
        path.write_text(config)
        run(
            [
                envoy,
                "--mode",
                "validate",
                "--disable-hot-restart",
                "-c",
                str(path),
                "--log-level",
                "error",
            ]
        )


def check_refused(tools: Tools, kube_version: str) -> None:
    for setting, message in REFUSED.items():
        command = [
            tools.helm,
            "template",
            RELEASE,
            str(CHART),
            "--kube-version",
            kube_version,
            "--set",
            setting,
        ]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode == 0 or message not in result.stderr:
            raise SystemExit(f"the chart accepted --set {setting} (expected: {message})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--helm", required=True)
    parser.add_argument("--kubeconform", required=True)
    parser.add_argument("--crdcheck", required=True)
    parser.add_argument("--envoy", required=True)
    parser.add_argument("--schemas", type=Path, required=True)
    parser.add_argument("--kube-versions", nargs="+", required=True)
    tools = Tools(parser.parse_args(argv))
    versions: list[str] = parser.parse_args(argv).kube_versions
    for name, values in value_sets().items():
        run([tools.helm, "lint", "--strict", str(CHART), *values])
        for version in versions:
            manifests = tools.template(values, version)
            summary = tools.kubeconform_(manifests, version).strip().splitlines()[-1]
            crds = run([tools.crdcheck], stdin=manifests).strip()
            print(f"{name} on Kubernetes {version}: {summary}; {crds}")
    default = documents(tools.template([], versions[-1]))
    check_promises(default)
    check_envoy(default, tools.envoy)
    check_refused(tools, versions[-1])
    print("chart promises hold, Envoy accepts its configuration, bad values are refused")
    return 0


if __name__ == "__main__":
    sys.exit(main())
