"""The command line without a server: serve's flags, the keys commands' refusal, TLS choice."""

from __future__ import annotations

import socket
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

import pytest
from click.testing import CliRunner
from pydantic import SecretStr
from pydantic.fields import FieldInfo

from mem0stack.options import TLSConfig
from mem0stack_server.cli import main
from mem0stack_server.cli.transfer import channel_tls
from mem0stack_server.config import Settings

_SETTINGS_ENV = ("MEM0STACK_CONFIG", "MEM0STACK_DATABASE_URL", "MEM0STACK_DATA_DIR")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No MEM0STACK_ setting from the environment the tests run in."""
    import os

    for name in list(os.environ):
        if name.startswith("MEM0STACK_") and name[len("MEM0STACK_") :].lower() in (
            Settings.model_fields
        ):
            monkeypatch.delenv(name)
    for name in _SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def started(clean_env: pytest.MonkeyPatch) -> list[Settings]:
    """What `serve` would run the server with; the server itself never starts."""
    runs: list[Settings] = []
    clean_env.setattr(main, "_run_server", runs.append)
    return runs


def _sample(name: str, field: FieldInfo, tmp_path: Path) -> tuple[list[str], Any]:
    """Command-line words setting ``name`` to a value other than its default, and that value."""
    kind: Any = field.annotation
    if get_origin(kind) in (Union, UnionType):  # X | None: a value of X
        (kind,) = (a for a in get_args(kind) if a is not type(None))
    flag = "--" + name.replace("_", "-")
    if kind is bool:
        return ([f"--no-{flag[2:]}"] if field.default else [flag]), not field.default
    if get_origin(kind) is Literal:
        choice = next(c for c in reversed(get_args(kind)) if c != field.default)
        return [flag, choice], choice
    if get_origin(kind) is list:
        return [flag, "alpha", flag, "beta"], ["alpha", "beta"]
    if kind is int:
        value: Any = (field.default or 6) + 1
    elif kind is float:
        value = (field.default or 0.0) / 2 + 0.125
    elif kind is Path:
        value = tmp_path / "elsewhere"
    else:
        value = f"value-of-{name}"
    return [flag, str(value)], value


def test_every_setting_has_a_serve_flag() -> None:
    params = {p.name: p for p in main.serve.params}
    assert set(params) == set(Settings.model_fields)
    for name, param in params.items():
        assert main.flag_name(name) in param.opts, name
        description = Settings.model_fields[name].description
        assert description and param.help and description in param.help, name
    # The five flags serve had before they were derived from Settings keep their names.
    for flag in ("--listen", "--metrics-listen", "--data-dir", "--database-url", "--log-format"):
        assert any(flag in p.opts for p in main.serve.params), flag


def test_every_flag_reaches_settings(started: list[Settings], tmp_path: Path) -> None:
    argv: list[str] = []
    expected: dict[str, Any] = {}
    for name, field in Settings.model_fields.items():
        words, value = _sample(name, field, tmp_path)
        assert value != field.default, f"the sample for {name} must differ from its default"
        argv += words
        expected[name] = value

    result = CliRunner().invoke(main.cli, ["serve", *argv])

    assert result.exit_code == 0, result.output
    (settings,) = started
    for name, value in expected.items():
        got = getattr(settings, name)
        if isinstance(got, SecretStr):
            got = got.get_secret_value()
        assert got == value, name


def test_flags_win_over_the_environment_which_wins_over_the_file(
    started: list[Settings], tmp_path: Path
) -> None:
    config = tmp_path / "mem0stack.toml"
    config.write_text('listen = "file:1"\ndb_pool_max = 33\nlog_format = "console"\n')
    started_env = {
        "MEM0STACK_CONFIG": str(config),
        "MEM0STACK_LISTEN": "env:1",
        "MEM0STACK_DB_POOL_MAX": "44",
    }

    runner = CliRunner(env=started_env)
    assert runner.invoke(main.cli, ["serve", "--listen", "flag:1"]).exit_code == 0
    assert runner.invoke(main.cli, ["serve"]).exit_code == 0

    with_flag, without = started
    assert (with_flag.listen, with_flag.db_pool_max, with_flag.log_format) == (
        "flag:1",
        44,
        "console",
    )
    # A flag not given is not passed at all, so it cannot mask the environment or the file.
    assert (without.listen, without.db_pool_max, without.log_format) == ("env:1", 44, "console")
    assert without.dedup_threshold == Settings.model_fields["dedup_threshold"].default


def test_out_of_range_flag_is_a_usage_error_naming_it(started: list[Settings]) -> None:
    result = CliRunner().invoke(main.cli, ["serve", "--hnsw-ef-search", "5"])
    assert result.exit_code == 2
    assert "--hnsw-ef-search" in result.stderr
    assert not started


def test_serve_help_shows_defaults_and_switches() -> None:
    text = CliRunner().invoke(main.cli, ["serve", "--help"], terminal_width=200).output
    assert "--embedding-int8-queries / --no-embedding-int8-queries" in text
    assert "[default: localhost:50051]" in text
    assert "--embedder [local|openai]" in text


@pytest.mark.parametrize(
    "command",
    [
        ["keys", "list"],
        ["keys", "list", "--json"],
        ["keys", "create", "--admin"],
        ["keys", "revoke", "0123456789ab"],
    ],
)
def test_keys_without_a_server_or_its_database_say_where_to_point_and_create_none(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, command: list[str]
) -> None:
    """Without --data-dir or --database-url the keys commands ask the server; with none
    listening they say how to reach it or its database, and create nothing."""
    clean_env.chdir(tmp_path)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        target = f"127.0.0.1:{probe.getsockname()[1]}"
    result = CliRunner().invoke(main.cli, [*command, "--target", target])

    assert result.exit_code == 1, result.output
    assert f"no server answered at {target}" in result.stderr
    for hint in ("--target", "--data-dir", "MEM0STACK_DATA_DIR", "--database-url"):
        assert hint in result.stderr
    assert not (tmp_path / "data").exists()


def test_keys_refuse_an_empty_data_dir_given_by_flag_or_environment(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    by_flag, by_env = tmp_path / "flag", tmp_path / "env"
    by_flag.mkdir()
    by_env.mkdir()

    flagged = CliRunner().invoke(main.cli, ["keys", "list", "--data-dir", str(by_flag)])
    from_env = CliRunner(env={"MEM0STACK_DATA_DIR": str(by_env)}).invoke(main.cli, ["keys", "list"])

    assert (flagged.exit_code, from_env.exit_code) == (2, 2)
    assert str(by_flag) in flagged.stderr
    assert str(by_env) in from_env.stderr
    assert list(by_flag.iterdir()) == [] and list(by_env.iterdir()) == []


@pytest.mark.parametrize(
    ("target", "tls", "expected"),
    [
        ("localhost:50051", None, None),
        ("127.0.0.1:50051", None, None),
        ("[::1]:50051", None, None),
        ("memory.example.com:443", None, TLSConfig()),
        ("10.1.2.3:50051", None, TLSConfig()),
        ("localhost:50051", True, TLSConfig()),
        ("memory.example.com:443", False, None),
    ],
)
def test_tls_is_off_only_for_loopback_or_when_asked(
    target: str, tls: bool | None, expected: TLSConfig | None
) -> None:
    assert channel_tls(target, tls, None) == expected


def test_a_remote_target_never_gets_plaintext_unless_no_tls_is_explicit() -> None:
    for target in ("memory.example.com:443", "10.1.2.3:50051", "[2001:db8::1]:50051"):
        for tls in (None, True):
            for ca in (None, b"PEM"):
                assert channel_tls(target, tls, ca) is not None, (target, tls, ca)


def test_a_ca_certificate_means_tls_with_that_root() -> None:
    assert channel_tls("localhost:50051", None, b"PEM") == TLSConfig(root_certificates=b"PEM")
    with pytest.raises(ValueError, match="--no-tls"):
        channel_tls("memory.example.com:443", False, b"PEM")
