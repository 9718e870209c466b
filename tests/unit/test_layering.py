"""The server package's layers: every import points down, and no module imports itself
back through others. docs/architecture.md ("Layers") is the map this test enforces."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "server" / "mem0stack_server"

#: Bottom first. A module may import its own layer and the layers below it.
LAYERS: list[tuple[str, set[str]]] = [
    ("foundation", {"config", "context"}),
    ("observability", {"obs"}),
    ("domain", {"domain"}),
    ("storage and adapters", {"store", "embed", "llm"}),
    ("application", {"app", "auth"}),
    ("transport", {"transport"}),
    ("entry points", {"server", "cli"}),
]
RANK = {part: rank for rank, (_, parts) in enumerate(LAYERS) for part in parts}
#: Third-party packages only some layers may use.
TRANSPORT_ONLY = {"grpc", "grpc_status", "grpc_health", "grpc_reflection"}
TRANSPORT_RANK = RANK["transport"]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, module: str | None = None) -> list[tuple[str, int]]:
    """Every module ``path`` (module ``module``) imports, at any depth and TYPE_CHECKING
    included, with its line."""
    package = (module or module_name(path)).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            found.append((base, node.lineno))
            # `from pkg import module` imports the module too.
            found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return found


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def layer_of(module: str) -> int:
    part = module.split(".")[1] if "." in module else ""
    assert part in RANK, f"{module}: its package {part!r} has no layer; add it to LAYERS"
    return RANK[part]


def test_every_module_has_a_layer() -> None:
    for module in modules():
        if module != "mem0stack_server":
            layer_of(module)


def test_imports_point_down() -> None:
    wrong = []
    for module, path in modules().items():
        if module == "mem0stack_server":
            continue
        rank = layer_of(module)
        for target, line in imports(path):
            top = target.split(".")[0]
            if top == "mem0stack_server" and "." in target:
                if layer_of(target) > rank:
                    wrong.append(f"{module}:{line} imports {target} (a layer above)")
            elif top in TRANSPORT_ONLY and rank < TRANSPORT_RANK:
                wrong.append(f"{module}:{line} imports {target}: only the transport may")
            elif top == "mem0stack_mcp":
                wrong.append(f"{module}:{line} imports the MCP bridge, which is a client of it")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles() -> None:
    known = modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in known.items():
        for target, _ in imports(path):
            if target in known and target != module and not module.startswith(target + "."):
                graph[module].add(target)
    # Tarjan's strongly connected components: any component of two or more is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(known):
        if module not in index:
            visit(module)
    assert not cycles, f"import cycles: {cycles}"


def test_the_check_sees_a_wrong_import(tmp_path: Path) -> None:
    # The scan must resolve relative and function-level imports, or the tests above
    # would pass on an empty walk.
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from ..transport import interceptors\n")
    found = imports(probe, "mem0stack_server.store.probe")
    assert ("mem0stack_server.transport.interceptors", 2) in found
    assert layer_of("mem0stack_server.transport.interceptors") > layer_of("mem0stack_server.store")
