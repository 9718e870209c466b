"""The ``mem0stack`` command line."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import os
import sys
import types
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, Union, get_args, get_origin

import click
from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo
from rich.console import Console

from mem0stack_server.cli.backup import backup_command, restore_command
from mem0stack_server.config import Settings

if TYPE_CHECKING:
    # At run time transfer (and grpc with it) is imported only by the commands that use it.
    from mem0stack_server.cli.transfer import Connection
    from mem0stack_server.store.database import EmbeddedPostgres

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
console = Console(stderr=True)


# Settings as `serve` flags
#
# The flags are derived from Settings.model_fields so that a new setting gets its flag (and
# its row in docs/configuration.md) without anyone remembering to add one.


def flag_name(field_name: str) -> str:
    """The ``serve`` flag of a setting: ``db_pool_max`` -> ``--db-pool-max``."""
    return "--" + field_name.replace("_", "-")


def flag_usage(field_name: str) -> str:
    """How the flag is written in docs: ``--x/--no-x`` for switches, ``--x`` otherwise."""
    field = Settings.model_fields[field_name]
    if _value_type(field) is bool:
        return f"{flag_name(field_name)}/--no-{flag_name(field_name)[2:]}"
    return flag_name(field_name)


def shown_default(field: FieldInfo) -> str:
    """A setting's default as people read it (the same text in --help and the docs)."""
    default = field.default
    if default is None:
        return "unset"
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, str) and default == "":
        return "empty"
    if isinstance(default, list):
        return json.dumps(default)
    return str(default)


def _value_type(field: FieldInfo) -> Any:
    """The annotation without ``| None``: unset is expressed by not giving the flag."""
    annotation = field.annotation
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


# Constraint attribute -> (click range argument, whether the bound is exclusive).
_RANGE_ARGS = {"ge": ("min", False), "gt": ("min", True), "le": ("max", False), "lt": ("max", True)}


def _bounds(field: FieldInfo) -> dict[str, Any]:
    """ge/le/gt/lt constraints as click range arguments, so a bad value names its flag."""
    found: dict[str, Any] = {}
    for constraint in field.metadata:
        for attr, (key, exclusive) in _RANGE_ARGS.items():
            value = getattr(constraint, attr, None)
            if value is not None:
                found[key] = value
                if exclusive:
                    found[f"{key}_open"] = True
    return found


def _settings_option(name: str, field: FieldInfo) -> Callable[[F], F]:
    value_type = _value_type(field)
    notes = [field.description or ""]
    if get_origin(value_type) is list:
        notes.append("Repeat the flag for several.")
    if value_type is SecretStr:
        notes.append(f"Prefer MEM0STACK_{name.upper()}: other users can read flags in ps.")
    help_text = f"{' '.join(notes)}  [default: {shown_default(field)}]"
    # Every flag defaults to None (or no items) and is passed to Settings only when given,
    # so the environment and the TOML file still apply to everything left out here.
    if value_type is bool:
        return click.option(name, flag_usage(name), default=None, help=help_text)
    if get_origin(value_type) is list:
        return click.option(name, flag_name(name), multiple=True, metavar="TEXT", help=help_text)
    kind: click.ParamType[Any, Any]
    if get_origin(value_type) is Literal:
        kind = click.Choice([str(choice) for choice in get_args(value_type)])
    elif value_type is int:
        kind = click.IntRange(**_bounds(field)) if _bounds(field) else click.INT
    elif value_type is float:
        kind = click.FloatRange(**_bounds(field)) if _bounds(field) else click.FLOAT
    elif value_type is Path:
        kind = click.Path(path_type=Path)
    elif value_type in (str, SecretStr):
        kind = click.STRING
    else:
        # Fail at import, in every test, rather than ship a setting without its flag.
        raise TypeError(f"Settings.{name}: no command-line type for {value_type!r}")
    return click.option(name, flag_name(name), type=kind, default=None, help=help_text)


def settings_options(command: F) -> F:
    """Add one option per Settings field to ``command``, in the order of config.py."""
    for name, field in reversed(Settings.model_fields.items()):
        command = _settings_option(name, field)(command)
    return command


def settings_from_flags(flags: Mapping[str, Any]) -> Settings:
    """Settings from the flags that were given, then the environment, then the TOML file."""
    given: dict[str, Any] = {
        k: list(v) if isinstance(v, tuple) else v
        for k, v in flags.items()
        if v is not None and v != ()
    }
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise click.ClickException(f"invalid configuration:\n{exc}") from exc


def _embedded_or_external_database(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    """The configured PostgreSQL, or the embedded one in the data directory (started now,
    and returned so the server can start it again should it die)."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value(), None
    from mem0stack_server.store.database import start_embedded

    embedded = start_embedded(settings.data_dir)
    return embedded.uri, embedded


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="mem0-stack")
def cli() -> None:
    """mem0-stack: a self-hosted long-term memory server for LLM applications.

    Every server setting is a `mem0stack serve` flag, an environment variable
    MEM0STACK_<NAME> (e.g. MEM0STACK_DATABASE_URL) and a key of the TOML file named by
    MEM0STACK_CONFIG; docs/configuration.md lists them all.

    \b
    Examples:
      mem0stack serve                               # everything embedded, in ./data
      mem0stack keys create --admin --label ops     # the first key ends development mode
      mem0stack export --user alice -o alice.jsonl
      mem0stack backup -o mem0stack.tar             # database and graph, one archive
    """


@cli.command()
@settings_options
def serve(**flags: Any) -> None:
    """Run the memory server until SIGTERM or Ctrl-C.

    With no configuration it runs everything embedded: PostgreSQL with pgvector in
    ./data, the local ONNX embedder, gRPC on localhost:50051.

    Each option below is a setting (docs/configuration.md), also readable from the
    environment variable MEM0STACK_<NAME> or the TOML file named by MEM0STACK_CONFIG.
    A flag wins over the environment, which wins over the file.

    \b
    Examples:
      mem0stack serve --listen 0.0.0.0:50051 --log-format console
      mem0stack serve --database-url postgresql://mem0:secret@db:5432/mem0
      MEM0STACK_LLM_MODEL=gpt-4o-mini mem0stack serve --no-embedding-int8-queries
    """
    _run_server(settings_from_flags(flags))


def _run_server(settings: Settings) -> None:
    from mem0stack_server.obs import logging as obs_logging

    obs_logging.configure(settings.log_level, settings.log_format)
    # The embedded PostgreSQL is forked before gRPC starts any thread.
    dsn, embedded = _embedded_or_external_database(settings)

    from mem0stack_server.llm import LLMConfigError
    from mem0stack_server.server import serve as run_server
    from mem0stack_server.store.database import EmbeddingMismatchError
    from mem0stack_server.transport.tls import TLSConfigError

    try:
        asyncio.run(run_server(settings, dsn, embedded))
    except (EmbeddingMismatchError, LLMConfigError, TLSConfigError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        sys.exit(2)


# API keys: the database the keys commands may act on


class NoServerDatabase(click.ClickException):
    """A keys command found no database to act on (exit code 2, like a usage error)."""

    exit_code = 2


_data_dir = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The data directory of the server's embedded PostgreSQL (env MEM0STACK_DATA_DIR) "
    "[default: ./data].",
)
_database_url_opt = click.option(
    "--database-url",
    help="The server's external PostgreSQL URL (env MEM0STACK_DATABASE_URL); overrides --data-dir.",
)


def _keys_database(settings: Settings) -> str:
    """The server's database, never a new one: an empty directory means a wrong path."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    data_dir = settings.data_dir.resolve()
    # initdb writes PG_VERSION first thing; without it, starting the embedded server here
    # would initialise a fresh, empty database and the command would act on that instead.
    if not (data_dir / "PG_VERSION").is_file():
        raise NoServerDatabase(
            f"no server database in {data_dir} (it holds no initialised PostgreSQL data "
            "directory), and no database URL was given. Point at the server's database "
            "with --data-dir DIR (or MEM0STACK_DATA_DIR), the directory `mem0stack serve` "
            "uses, or with --database-url URL (or MEM0STACK_DATABASE_URL). A keys command "
            "never creates a database."
        )
    from mem0stack_server.store.database import start_embedded

    return start_embedded(data_dir).uri


def _with_pool(settings: Settings, action: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``action`` with a pool on the server's (existing) database."""
    dsn = _keys_database(settings)

    from mem0stack_server.server import build_embedder, open_database

    async def run() -> T:
        embedder = build_embedder(settings)
        pool = await open_database(settings, dsn, embedder)
        try:
            return await action(pool)
        finally:
            await pool.close()
            await embedder.aclose()

    return asyncio.run(run())


def _with_keys(settings: Settings, action: Callable[[Any], Awaitable[T]]) -> T:
    from mem0stack_server.store.keys import KeyStore

    return _with_pool(settings, lambda pool: action(KeyStore(pool)))


def _keys_settings(data_dir: Path | None, database_url: str | None) -> Settings:
    return settings_from_flags({"data_dir": data_dir, "database_url": database_url})


def _rfc3339(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def key_records(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The public fields of each key (never a secret or its hash), times in RFC 3339."""
    return [
        {
            "id": row["id"],
            "role": row["role"],
            "users": list(row["users"]),
            "label": row["label"],
            "create_time": _rfc3339(row["create_time"]),
            "last_use_time": _rfc3339(row["last_use_time"]),
            "revoke_time": _rfc3339(row["revoke_time"]),
        }
        for row in rows
    ]


def _aligned(header: Sequence[str], lines: Sequence[Sequence[str]]) -> str:
    """Plain columns: a terminal wraps a long line but, unlike a fitted table, loses nothing."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines, strict=True)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *lines]
    )


# Export and import


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
_tls = click.option(
    "--tls/--no-tls",
    default=None,
    help="TLS to the server on or off [default: off to loopback targets (localhost, "
    "127.0.0.1, ::1), on to anything else]. --no-tls to a remote target sends the API "
    "key in the clear.",
)
_ca_cert = click.option(
    "--ca-cert",
    envvar="MEM0STACK_CA_CERT",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM file of the CA that signed the server's certificate, for a private CA "
    "(env MEM0STACK_CA_CERT); implies --tls [default: the system's CAs].",
)
_client_cert = click.option(
    "--client-cert",
    envvar="MEM0STACK_CLIENT_CERT",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM certificate to present to a server that requires client certificates "
    "(mutual TLS; env MEM0STACK_CLIENT_CERT); needs --client-key, implies --tls.",
)
_client_key = click.option(
    "--client-key",
    envvar="MEM0STACK_CLIENT_KEY",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM private key of --client-cert (env MEM0STACK_CLIENT_KEY).",
)


def _tls_options(command: F) -> F:
    """--tls/--no-tls, --ca-cert, --client-cert and --client-key, in that order."""
    for option in (_client_key, _client_cert, _ca_cert, _tls):
        command = option(command)
    return command


def _connection(
    target: str,
    api_key: str | None,
    tls: bool | None,
    ca_cert: Path | None,
    client_cert: Path | None = None,
    client_key: Path | None = None,
) -> Connection:
    from mem0stack.options import is_loopback
    from mem0stack_server.cli.transfer import Connection, channel_tls

    def read(path: Path | None) -> bytes | None:
        return path.read_bytes() if path else None

    try:
        resolved = channel_tls(target, tls, read(ca_cert), read(client_cert), read(client_key))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    # Plaintext to a remote target happens only on an explicit --no-tls (channel_tls).
    if resolved is None and api_key and not is_loopback(target):
        console.print(
            f"[yellow]warning:[/yellow] --no-tls: the API key travels to {target} in the clear"
        )
    return Connection(target, api_key, resolved)


def _rpc_failed(exc: Exception, tls: bool) -> click.ClickException:
    """The command's error message: the SDK's error (code, reason, message) with a hint."""
    from mem0stack import Mem0StackError

    if not isinstance(exc, Mem0StackError):
        return click.ClickException(str(exc))
    hint = ""
    if exc.code.name == "UNAVAILABLE":
        # A TLS/plaintext mismatch or an unknown CA shows up only as UNAVAILABLE.
        hint = (
            " (TLS was on: if the server runs, a private CA needs --ca-cert, a server "
            "that requires client certificates --client-cert and --client-key, and a "
            "plaintext server --no-tls)"
            if tls
            else " (TLS was off: if the server runs behind TLS, add --tls)"
        )
    return click.ClickException(f"{exc}{hint}")


# API keys: through the server's AdminService, or on its database directly


@cli.group()
def keys() -> None:
    """Create, list and revoke API keys.

    By default they ask the running server (its AdminService) at --target, with an admin
    key in --api-key (or MEM0STACK_API_KEY); a server in development mode needs none, so
    `mem0stack keys create --admin` right after `make run` makes the first key.

    With --data-dir or --database-url (or MEM0STACK_DATA_DIR / MEM0STACK_DATABASE_URL)
    they act on the server's database directly instead, with or without a running server:
    the way to make the first key of a server started with MEM0STACK_AUTH=keys, or to get
    back in when no admin key is left. They never create a database: pointed at a
    directory without one they stop with exit code 2.

    \b
    Examples:
      mem0stack keys create --admin --label ops
      mem0stack keys list --api-key "$ADMIN_KEY" --target memory.example.com:443
      mem0stack keys create --admin --label ops --data-dir /var/lib/mem0stack
      MEM0STACK_DATABASE_URL=postgresql://mem0@db/mem0 mem0stack keys list --json
    """


def _on_database(data_dir: Path | None, database_url: str | None) -> bool:
    """Whether a keys command acts on the database (given by flag or environment)."""
    return bool(
        data_dir
        or database_url
        or os.environ.get("MEM0STACK_DATA_DIR")
        or os.environ.get("MEM0STACK_DATABASE_URL")
    )


def _keys_options(command: F) -> F:
    """Where the keys are: the server (--target, --api-key, TLS) or its database."""
    for option in (_database_url_opt, _data_dir, _client_key, _client_cert, _ca_cert, _tls):
        command = option(command)
    return _target(_api_key(command))


def _admin_call(connection: Connection, call: Callable[[Any], T]) -> T:
    """Run ``call`` with an SDK client on the server, failing with the server's reason."""
    from mem0stack import Client, Mem0StackError
    from mem0stack.options import RetryPolicy

    client = Client(
        connection.target,
        connection.api_key,
        tls=connection.tls if connection.tls is not None else False,
        timeout=15,
        retry=RetryPolicy(max_attempts=2),
    )
    try:
        return call(client)
    except Mem0StackError as exc:
        if exc.code.name == "UNAVAILABLE":
            raise click.ClickException(
                f"no server answered at {connection.target} ({exc.message}). Start it "
                "(`mem0stack serve`), point --target at it, or act on its database "
                "directly with --data-dir DIR (MEM0STACK_DATA_DIR) or --database-url URL "
                "(MEM0STACK_DATABASE_URL)."
            ) from exc
        if exc.code.name in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
            raise click.ClickException(
                f"{exc}. The keys commands need an admin key: --api-key KEY (or "
                "MEM0STACK_API_KEY), or act on the server's database directly with "
                "--data-dir / --database-url."
            ) from exc
        raise _rpc_failed(exc, connection.tls is not None) from exc
    finally:
        client.close()


def _record_of(api_key: Any) -> dict[str, Any]:
    """A key from the AdminService as :func:`key_records` shows one from the database."""

    from mem0stack.v1 import admin_pb2

    def moment(field: str) -> str | None:
        if not api_key.HasField(field):
            return None
        return _rfc3339(getattr(api_key, field).ToDatetime(UTC))

    return {
        "id": api_key.name.removeprefix("apiKeys/"),
        "role": "admin" if api_key.role == admin_pb2.ApiKey.ADMIN else "user",
        "users": list(api_key.users),
        "label": api_key.label,
        "create_time": moment("create_time"),
        "last_use_time": moment("last_use_time"),
        "revoke_time": moment("revoke_time"),
    }


@keys.command("create")
@click.option("--admin", is_flag=True, help="An admin key: reaches every user.")
@click.option("--user", "users", multiple=True, help="A user id the key may reach (repeatable).")
@click.option("--label", default="", help="A note to recognise the key by.")
@_keys_options
def keys_create(
    admin: bool,
    users: tuple[str, ...],
    label: str,
    target: str,
    api_key: str | None,
    tls: bool | None,
    ca_cert: Path | None,
    client_cert: Path | None,
    client_key: Path | None,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Create an API key and print it once (only its hash is stored).

    \b
    Examples:
      mem0stack keys create --admin --label ops
      mem0stack keys create --user alice --user alice-work --api-key "$ADMIN_KEY"
      mem0stack keys create --admin --data-dir /var/lib/mem0stack
    """
    from mem0stack_server.auth import keys as api_keys
    from mem0stack_server.domain.names import parse_parent

    if admin == bool(users):
        raise click.UsageError("give either --admin or at least one --user")
    for user in users:
        try:
            parse_parent(f"users/{user}")
        except Exception as exc:
            raise click.BadParameter(f"invalid user id {user!r}", param_hint="--user") from exc
    role = "admin" if admin else "user"
    if _on_database(data_dir, database_url):
        key, key_id, secret_hash = api_keys.generate()
        settings = _keys_settings(data_dir, database_url)
        _with_keys(settings, lambda store: store.create(key_id, secret_hash, role, users, label))
    else:
        connection = _connection(target, api_key, tls, ca_cert, client_cert, client_key)
        made = _admin_call(
            connection, lambda client: client.new_api_key(admin=admin, users=users, label=label)
        )
        key, key_id = made.key, made.api_key.name.removeprefix("apiKeys/")
    console.print(f"created {role} key [bold]{key_id}[/bold]; it is shown only now:")
    click.echo(key)


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@_keys_options
def keys_list(
    as_json: bool,
    target: str,
    api_key: str | None,
    tls: bool | None,
    ca_cert: Path | None,
    client_cert: Path | None,
    client_key: Path | None,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """List API keys: ids, roles, users, labels and times (never the secrets).

    The table prints every value in full, whatever the terminal's width. --json prints
    objects with id, role, users, label, create_time, last_use_time and revoke_time
    (RFC 3339, or null: never used, still active).

    \b
    Examples:
      mem0stack keys list --api-key "$ADMIN_KEY"
      mem0stack keys list --json | jq -r '.[] | select(.revoke_time == null) | .id'
    """
    if _on_database(data_dir, database_url):
        settings = _keys_settings(data_dir, database_url)
        records = key_records(_with_keys(settings, lambda store: store.all()))
    else:
        connection = _connection(target, api_key, tls, ca_cert, client_cert, client_key)
        found = _admin_call(
            connection, lambda client: list(client.iter_api_keys(show_revoked=True))
        )
        records = [_record_of(k) for k in found]
    if as_json:
        click.echo(json.dumps(records, indent=2, ensure_ascii=False))
        return
    if not records:
        console.print("no API keys")
        return
    click.echo(
        _aligned(
            ("ID", "ROLE", "USERS", "LABEL", "CREATED", "LAST USED", "REVOKED"),
            [
                (
                    r["id"],
                    r["role"],
                    ",".join(r["users"]) or "*",
                    r["label"] or "-",
                    r["create_time"] or "-",
                    r["last_use_time"] or "-",
                    r["revoke_time"] or "-",
                )
                for r in records
            ],
        )
    )


@keys.command("revoke")
@click.argument("key_id")
@_keys_options
def keys_revoke(
    key_id: str,
    target: str,
    api_key: str | None,
    tls: bool | None,
    ca_cert: Path | None,
    client_cert: Path | None,
    client_key: Path | None,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """Revoke the key KEY_ID (running servers stop accepting it within seconds).

    \b
    Examples:
      mem0stack keys revoke 3f9a1c0b7d2e --api-key "$ADMIN_KEY"
      mem0stack keys revoke 3f9a1c0b7d2e --data-dir /var/lib/mem0stack
    """
    if _on_database(data_dir, database_url):
        settings = _keys_settings(data_dir, database_url)
        if not _with_keys(settings, lambda store: store.revoke(key_id)):
            raise click.ClickException(f"no active key {key_id!r}")
    else:
        from mem0stack import Mem0StackError

        connection = _connection(target, api_key, tls, ca_cert, client_cert, client_key)
        try:
            _admin_call(connection, lambda client: client.revoke_key(key_id))
        except click.ClickException as exc:
            if isinstance(exc.__cause__, Mem0StackError) and exc.__cause__.code.name in (
                "NOT_FOUND",
                "FAILED_PRECONDITION",
                "INVALID_ARGUMENT",
            ):
                raise click.ClickException(f"no active key {key_id!r}") from exc
            raise
    console.print(f"revoked {key_id}")


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
@_tls_options
def export_command(
    user: str,
    filter_text: str,
    include_embeddings: bool,
    cursor: str,
    output: Any,
    target: str,
    api_key: str | None,
    tls: bool | None,
    ca_cert: Path | None,
    client_cert: Path | None,
    client_key: Path | None,
) -> None:
    """Export a user's memories as JSON lines (one memory per line).

    \b
    Examples:
      mem0stack export --user alice -o alice.jsonl
      mem0stack export --user alice --target memory.example.com:443 \\
          --api-key "$KEY" --ca-cert private-ca.pem -o alice.jsonl
    """
    from mem0stack_server.cli.transfer import export_memories

    connection = _connection(target, api_key, tls, ca_cert, client_cert, client_key)
    try:
        count = asyncio.run(
            export_memories(connection, user, filter_text, include_embeddings, output, cursor)
        )
    except Exception as exc:
        raise _rpc_failed(exc, connection.tls is not None) from exc
    console.print(f"exported {count:,} memories")


@cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--user", required=True, help="The user who will own the memories.")
@_target
@_api_key
@_tls_options
def import_command(
    file: Path,
    user: str,
    target: str,
    api_key: str | None,
    tls: bool | None,
    ca_cert: Path | None,
    client_cert: Path | None,
    client_key: Path | None,
) -> None:
    """Import memories from a JSON lines FILE: our export, mem0 or OpenMemory.

    Memories already imported (same source id) are skipped, so running it twice adds
    nothing, and an interrupted import resumes by running it again. Bad lines are
    reported with their number; the rest is imported. The progress bar counts the
    memories the server has stored (or skipped, or rejected), not the lines sent.

    \b
    Examples:
      mem0stack import alice.jsonl --user alice
      mem0stack import mem0-export.json --user alice --target memory.example.com:443 \\
          --api-key "$KEY"
    """
    from mem0stack_server.cli.transfer import import_memories

    connection = _connection(target, api_key, tls, ca_cert, client_cert, client_key)
    try:
        report = asyncio.run(import_memories(connection, user, file))
    except Exception as exc:
        raise _rpc_failed(exc, connection.tls is not None) from exc
    for line, reason in report.failures:
        console.print(f"[red]line {line}:[/red] {reason}")
    console.print(
        f"imported {report.imported:,}, skipped {report.skipped:,} already present, "
        f"failed {len(report.failures):,}"
    )
    if report.failures:
        sys.exit(1)


# Backup and restore (cli/backup.py)

cli.add_command(backup_command)
cli.add_command(restore_command)


def _add_plugin_commands() -> None:
    """Commands other installed packages contribute (entry point group ``mem0stack.commands``).

    The MCP bridge (``gateway/mcp``) adds ``mcp`` this way: it is a client of the server, so
    the server's package does not import it. Without the bridge, ``mem0stack mcp`` says how
    to install it.
    """
    for entry in importlib.metadata.entry_points(group="mem0stack.commands"):
        cli.add_command(entry.load(), entry.name)
    if "mcp" not in cli.commands:

        @cli.command("mcp", context_settings={"ignore_unknown_options": True})
        @click.argument("args", nargs=-1, type=click.UNPROCESSED)
        def mcp_missing(args: tuple[str, ...]) -> None:
            """Run the MCP bridge (not installed here: pip install gateway/mcp)."""
            raise click.ClickException("the MCP bridge is not installed: pip install gateway/mcp")


@cli.group()
def users() -> None:
    """Act on a user's data in the server's database (found as the keys commands find it).

    \b
    Examples:
      mem0stack users erase alice --yes --data-dir /var/lib/mem0stack
    """


@users.command("erase")
@click.argument("user")
@click.option("--yes", is_flag=True, help="Erase without asking (scripts).")
@_data_dir
@_database_url_opt
def users_erase(user: str, yes: bool, data_dir: Path | None, database_url: str | None) -> None:
    """Erase USER: every memory, revision, change event, stored response, background
    operation, pending graph job, webhook and webhook delivery of theirs, in one transaction
    (GDPR erasure). A running server's graph worker then removes their graph; API keys that
    name them stay until revoked. Unlike deleting memories, nothing of their content stays
    in the history. Cannot be undone.
    """
    from mem0stack_server.domain.names import parse_parent
    from mem0stack_server.store.erasure import erase_user

    try:
        parse_parent(f"users/{user}")
    except Exception as exc:
        raise click.BadParameter(f"invalid user id {user!r}", param_hint="USER") from exc
    if not yes:
        click.confirm(f"Erase everything stored about user {user!r}? No undo", abort=True)
    settings = _keys_settings(data_dir, database_url)
    erased = _with_pool(settings, lambda pool: erase_user(pool, user))
    removed = ", ".join(f"{count} {table}" for table, count in erased.rows.items() if count)
    console.print(f"erased user [bold]{user}[/bold]: {removed or 'nothing was stored'}")


@cli.group()
def audit() -> None:
    """Read the access audit log: who read, listed, searched, exported, watched or deleted
    whose memories (docs/operations.md#access-audit-log).

    \b
    Examples:
      mem0stack audit list --user alice --since 24h
      mem0stack audit list --key 0190abcd --json --data-dir /var/lib/mem0stack
    """


_SINCE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    unit = _SINCE_UNITS.get(text[-1:])
    try:
        amount = float(text[:-1])
    except ValueError:
        amount = -1
    if unit is None or amount < 0:
        raise click.BadParameter("a duration such as 30m, 24h or 7d", param_hint="--since")
    return datetime.now(UTC) - timedelta(seconds=amount * unit)


@audit.command("list")
@click.option("--user", help="Only calls that named this user.")
@click.option("--key", "key_id", help="Only calls made with this API key id.")
@click.option("--since", help="Only the last 30m, 24h, 7d, ...")
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@_data_dir
@_database_url_opt
def audit_list(
    user: str | None,
    key_id: str | None,
    since: str | None,
    limit: int,
    as_json: bool,
    data_dir: Path | None,
    database_url: str | None,
) -> None:
    """List access log entries, newest first."""
    from mem0stack_server.store.access_log import AccessLogStore

    moment = _since(since)
    settings = _keys_settings(data_dir, database_url)
    rows = _with_pool(
        settings,
        lambda pool: AccessLogStore(pool).list(
            user_id=user, key_id=key_id, since=moment, limit=limit
        ),
    )
    records = [{**dict(row), "time": _rfc3339(row["time"])} for row in rows]
    if as_json:
        click.echo(json.dumps(records, indent=2))
        return
    columns = ("time", "user_id", "key_id", "action", "outcome", "request_id", "peer")
    click.echo(_aligned(columns, [[str(r[c]) for c in columns] for r in records]))


_add_plugin_commands()


if __name__ == "__main__":
    cli()
