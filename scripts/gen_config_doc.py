"""Write docs/configuration.md from the Settings object, so the doc cannot drift from the code.

.venv/bin/python scripts/gen_config_doc.py > docs/configuration.md
"""

from __future__ import annotations

from mem0stack_server.cli.main import flag_usage, shown_default
from mem0stack_server.config import Settings

HEADER = """# Configuration

Generated from `server/mem0stack_server/config.py` by `scripts/gen_config_doc.py`; a test
checks that it is current.

Every setting is read from its `mem0stack serve` flag, from an environment variable
`MEM0STACK_<NAME>`, or from a TOML file named by `MEM0STACK_CONFIG` (keys are the lower-case
names below). Flags win over the environment, which wins over the file. A list setting takes
its flag once per item (`--llm-categories food --llm-categories travel`) and a JSON list in
the environment; a `--x/--no-x` switch is `true` or `false` in the environment and the file.

```sh
mem0stack serve --listen 0.0.0.0:50051 --dedup-threshold 0.93 --log-format console
```

```toml
# mem0stack.toml
listen = "0.0.0.0:50051"
database_url = "postgresql://mem0:secret@db:5432/mem0"
dedup_threshold = 0.93
```

| variable | flag | default | description |
| --- | --- | --- | --- |
"""


def render() -> str:
    rows = []
    for name, field in Settings.model_fields.items():
        shown = shown_default(field)
        default = shown if shown in ("unset", "empty") else f"`{shown}`"
        rows.append(
            f"| `MEM0STACK_{name.upper()}` | `{flag_usage(name)}` | {default} "
            f"| {field.description or ''} |"
        )
    return HEADER + "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(render(), end="")
