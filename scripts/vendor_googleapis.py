"""Copy the google/api and google/rpc protos out of the pinned googleapis-common-protos wheel.

buf needs them as a local module (the machines reach no buf registry). They are not committed:
the installed wheel is the pinned source of truth, and this script lays them out where
buf.yaml expects them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import google.api  # from googleapis-common-protos
import google.rpc

PROTOS = {
    google.api: ["annotations.proto", "http.proto", "field_behavior.proto", "resource.proto"],
    google.rpc: ["status.proto", "error_details.proto", "code.proto"],
}


def main(dest: Path) -> None:
    for package, names in PROTOS.items():
        source_dir = Path(package.__path__[0])
        target_dir = dest / "google" / source_dir.name
        target_dir.mkdir(parents=True, exist_ok=True)
        for name in names:
            target = target_dir / name
            data = (source_dir / name).read_bytes()
            if not target.exists() or target.read_bytes() != data:
                target.write_bytes(data)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("proto/third_party/googleapis"))
