"""Write docs/configuration.md from the Settings object, so the doc cannot drift from the code.

.venv/bin/python scripts/gen_config_doc.py > docs/configuration.md
"""

from __future__ import annotations

from mem0stack_server.config import Settings

HEADER = """# Configuration

Generated from `server/mem0stack_server/config.py` by `scripts/gen_config_doc.py`; a test
checks that it is current.

Every setting is read from an environment variable `MEM0STACK_<NAME>`, or from a TOML file
named by `MEM0STACK_CONFIG` (keys are the lower-case names below), or from the matching
`mem0stack serve` flag. Flags win over the environment, which wins over the file.

```toml
# mem0stack.toml
listen = "0.0.0.0:50051"
database_url = "postgresql://mem0:secret@db:5432/mem0"
dedup_threshold = 0.93
```

| variable | default | description |
| --- | --- | --- |
"""


def render() -> str:
    rows = []
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = "unset" if default is None else f"`{default}`"
        if isinstance(default, str) and default == "":
            shown = "empty"
        rows.append(f"| `MEM0STACK_{name.upper()}` | {shown} | {field.description or ''} |")
    return HEADER + "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(render(), end="")
