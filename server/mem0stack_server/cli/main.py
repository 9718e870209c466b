"""The ``mem0stack`` command line."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from mem0stack_server.config import Settings

T = TypeVar("T")
console = Console(stderr=True)


def _settings(**overrides: Any) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _database_url(settings: Settings) -> str:
    """The configured PostgreSQL, or the embedded one in the data directory (started now)."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    from mem0stack_server.store.database import start_embedded

    return start_embedded(settings.data_dir)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="mem0-stack")
def cli() -> None:
    """mem0-stack: a self-hosted long-term memory server for LLM applications.

    Every option can also be set as an environment variable MEM0STACK_<NAME>
    (e.g. MEM0STACK_DATABASE_URL) or in a TOML file named by MEM0STACK_CONFIG.
    """


_data_dir = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory of the embedded PostgreSQL [default: ./data].",
)
_database_url_opt = click.option(
    "--database-url", help="External PostgreSQL URL with pgvector; overrides --data-dir."
)


@cli.command()
@click.option("--listen", help="gRPC address host:port [default: localhost:50051].")
@click.option(
    "--metrics-listen", help="Prometheus address host:port; '' disables [default: localhost:9464]."
)
@_data_dir
@_database_url_opt
@click.option(
    "--log-format", type=click.Choice(["json", "console"]), help="Log format [default: json]."
)
def serve(
    listen: str | None,
    metrics_listen: str | None,
    data_dir: Path | None,
    database_url: str | None,
    log_format: str | None,
) -> None:
    """Run the memory server until SIGTERM or Ctrl-C.

    With no configuration it runs everything embedded: PostgreSQL with pgvector in
    ./data, the local ONNX embedder, gRPC on localhost:50051.
    """
    from mem0stack_server.obs import logging as obs_logging

    settings = _settings(
        listen=listen,
        metrics_listen=metrics_listen,
        data_dir=data_dir,
        database_url=database_url,
        log_format=log_format,
    )
    obs_logging.configure(settings.log_level, settings.log_format)
    # The embedded PostgreSQL is forked before gRPC starts any thread.
    dsn = _database_url(settings)

    from mem0stack_server.api.server import serve as run_server
    from mem0stack_server.llm import LLMConfigError
    from mem0stack_server.store.database import EmbeddingMismatchError

    try:
        asyncio.run(run_server(settings, dsn))
    except (EmbeddingMismatchError, LLMConfigError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        sys.exit(2)


@cli.group()
def keys() -> None:
    """Create, list and revoke API keys."""


def _with_keys(settings: Settings, action: Callable[[Any], Awaitable[T]]) -> T:
    from mem0stack_server.api.server import build_embedder, open_database
    from mem0stack_server.store.keys import KeyStore

    dsn = _database_url(settings)

    async def run() -> T:
        embedder = build_embedder(settings)
        pool = await open_database(settings, dsn, embedder)
        try:
            return await action(KeyStore(pool))
        finally:
            await pool.close()
            await embedder.aclose()

    return asyncio.run(run())


@keys.command("create")
@click.option("--admin", is_flag=True, help="An admin key: reaches every user.")
@click.option("--user", "users", multiple=True, help="A user id the key may reach (repeatable).")
@click.option("--label", default="", help="A note to recognise the key by.")
@_data_dir
@_database_url_opt
def keys_create(
    admin: bool, users: tuple[str, ...], label: str, data_dir: Path | None, database_url: str | None
) -> None:
    """Create an API key and print it once (only its hash is stored).

    \b
    Examples:
      mem0stack keys create --admin --label ops
      mem0stack keys create --user alice --user alice-work
    """
    from mem0stack_server.auth import keys as api_keys
    from mem0stack_server.core.names import parse_parent

    if admin == bool(users):
        raise click.UsageError("give either --admin or at least one --user")
    for user in users:
        try:
            parse_parent(f"users/{user}")
        except Exception as exc:
            raise click.BadParameter(f"invalid user id {user!r}", param_hint="--user") from exc
    key, key_id, secret_hash = api_keys.generate()
    role = "admin" if admin else "user"
    settings = _settings(data_dir=data_dir, database_url=database_url)
    _with_keys(settings, lambda store: store.create(key_id, secret_hash, role, users, label))
    console.print(f"created {role} key [bold]{key_id}[/bold]; it is shown only now:")
    click.echo(key)


@keys.command("list")
@_data_dir
@_database_url_opt
def keys_list(data_dir: Path | None, database_url: str | None) -> None:
    """List API keys (ids, roles and users; never the secrets)."""
    settings = _settings(data_dir=data_dir, database_url=database_url)
    rows = _with_keys(settings, lambda store: store.list())
    table = Table("id", "role", "users", "label", "created", "revoked")
    for r in rows:
        table.add_row(
            r["id"],
            r["role"],
            ",".join(r["users"]),
            r["label"],
            r["create_time"].isoformat(timespec="seconds"),
            r["revoke_time"].isoformat(timespec="seconds") if r["revoke_time"] else "",
        )
    Console().print(table)


@keys.command("revoke")
@click.argument("key_id")
@_data_dir
@_database_url_opt
def keys_revoke(key_id: str, data_dir: Path | None, database_url: str | None) -> None:
    """Revoke the key KEY_ID (running servers stop accepting it within seconds)."""
    settings = _settings(data_dir=data_dir, database_url=database_url)
    if not _with_keys(settings, lambda store: store.revoke(key_id)):
        raise click.ClickException(f"no active key {key_id!r}")
    console.print(f"revoked {key_id}")


_target = click.option(
    "--target",
    envvar="MEM0STACK_TARGET",
    default="localhost:50051",
    show_default=True,
    help="The server's gRPC address (env MEM0STACK_TARGET).",
)
_api_key = click.option(
    "--api-key", envvar="MEM0STACK_API_KEY", help="API key (env MEM0STACK_API_KEY)."
)


def _rpc_failed(exc: Exception) -> click.ClickException:
    import grpc

    if isinstance(exc, grpc.aio.AioRpcError):
        return click.ClickException(f"{exc.code().name}: {exc.details()}")
    return click.ClickException(str(exc))


@cli.command("export")
@click.option("--user", required=True, help="The user whose memories to export.")
@click.option(
    "--filter", "filter_text", default="", help="AIP-160 filter, e.g. 'agent_id = \"a\"'."
)
@click.option("--include-embeddings", is_flag=True, help="Add each memory's embedding.")
@click.option("--cursor", default="", help="Resume an interrupted export from this cursor.")
@click.option(
    "-o",
    "--output",
    type=click.File("w", encoding="utf-8"),
    default="-",
    help="File [default: stdout].",
)
@_target
@_api_key
def export_command(
    user: str,
    filter_text: str,
    include_embeddings: bool,
    cursor: str,
    output: Any,
    target: str,
    api_key: str | None,
) -> None:
    """Export a user's memories as JSON lines (one memory per line).

    \b
    Example:
      mem0stack export --user alice -o alice.jsonl
    """
    from mem0stack_server.cli.transfer import export_memories

    try:
        count = asyncio.run(
            export_memories(target, api_key, user, filter_text, include_embeddings, output, cursor)
        )
    except Exception as exc:
        raise _rpc_failed(exc) from exc
    console.print(f"exported {count:,} memories")


@cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--user", required=True, help="The user who will own the memories.")
@_target
@_api_key
def import_command(file: Path, user: str, target: str, api_key: str | None) -> None:
    """Import memories from a JSON lines FILE: our export, mem0 or OpenMemory.

    Memories already imported (same source id) are skipped, so running it twice adds
    nothing. Bad lines are reported with their number; the rest is imported.

    \b
    Example:
      mem0stack import alice.jsonl --user alice
    """
    from mem0stack_server.cli.transfer import import_memories

    try:
        report = asyncio.run(import_memories(target, api_key, user, file))
    except Exception as exc:
        raise _rpc_failed(exc) from exc
    for line, reason in report.failures:
        console.print(f"[red]line {line}:[/red] {reason}")
    console.print(
        f"imported {report.imported:,}, skipped {report.skipped:,} already present, "
        f"failed {len(report.failures):,}"
    )
    if report.failures:
        sys.exit(1)


@cli.command("mcp")
@click.option("--user", envvar="MEM0STACK_USER", help="The user whose memories the tools reach.")
@click.option(
    "--server",
    envvar=["MEM0STACK_SERVER", "MEM0STACK_TARGET"],
    default="localhost:50051",
    show_default=True,
    help="The memory server's gRPC address (env MEM0STACK_SERVER).",
)
@_api_key
@click.option("--tls/--no-tls", default=None, help="Force TLS to the server on or off.")
@click.option("--http", is_flag=True, help="Serve streamable HTTP instead of stdio.")
@click.option("--host", envvar="MEM0STACK_MCP_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="MEM0STACK_MCP_PORT", type=int, default=8765, show_default=True)
def mcp_command(
    user: str | None,
    server: str,
    api_key: str | None,
    tls: bool | None,
    http: bool,
    host: str,
    port: int,
) -> None:
    """Run the MCP bridge: memory tools for AI assistants (see docs/mcp.md).

    \b
    Examples:
      mem0stack mcp --user alice                  # stdio, for desktop assistants
      mem0stack mcp --http --port 8765            # http://127.0.0.1:8765/mcp; callers send
                                                  # Authorization and X-Mem0stack-User headers
    """
    try:
        import mem0stack_mcp
    except ImportError as exc:
        raise click.ClickException(
            "the MCP bridge is not installed: pip install gateway/mcp"
        ) from exc
    try:
        config = mem0stack_mcp.BridgeConfig(
            server=server, api_key=api_key, user=user, tls=tls, http=http, host=host, port=port
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    mem0stack_mcp.run(config)


if __name__ == "__main__":
    cli()
