"""Issue 8 (2, 3, 7): what an operator runs: keys init, db upgrade, the worker, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.e2e.test_cli import run
from voucher_service.cli import main
from voucher_service.config import ConfigurationError, Settings, warnings_for

STRONG_SECRET = "8f2c4a1e9b7d3f605e1c2a9b8d7f6e5c4b3a29180f7e6d5c4b3a291807f6e5d4"


def test_help_and_version() -> None:
    for flag in ("-h", "--help"):
        answer = CliRunner().invoke(main, [flag])
        assert answer.exit_code == 0
        assert "Usage: voucher-service" in answer.output
    nested = CliRunner().invoke(main, ["keys", "rotate", "-h"])
    assert nested.exit_code == 0
    assert "--after DURATION" in nested.output
    version = CliRunner().invoke(main, ["--version"])
    assert version.exit_code == 0
    assert version.output.startswith("voucher-service 0.")


def _options(command: Any) -> list[tuple[str, Any]]:
    import click

    found = []
    for parameter in command.params:
        if isinstance(parameter, click.Option):
            found.append((f"{command.name} {parameter.name}", parameter))
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            found += _options(sub)
    return found


def test_every_option_and_command_has_help() -> None:
    import click

    missing = [name for name, option in _options(main) if not option.help]
    assert missing == []

    def commands(group: click.Group) -> list[click.Command]:
        found: list[click.Command] = []
        for sub in group.commands.values():
            found.append(sub)
            if isinstance(sub, click.Group):
                found += commands(sub)
        return found

    assert [c.name for c in commands(main) if not c.help] == []


def test_any_error_is_one_line_and_non_zero(tmp_path: Path) -> None:
    cases = [
        {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"},
        {"VOUCHER_SERVICE_ENV": "staging"},
        {"PUBLIC_BASE_URL": "pass.example.fr"},
        {"VOUCHER_SERVICE_ENV": "production", "DATABASE_URL": f"sqlite:///{tmp_path}/p.db"},
    ]
    for env in cases:
        answer = CliRunner().invoke(main, ["apikey", "list"], env=env)
        assert answer.exit_code == 1, (env, answer.output)
        assert answer.output.startswith("Error: "), (env, answer.output)
        assert answer.output.count("\n") == 1, (env, answer.output)
        assert "Traceback" not in answer.output


def test_keys_init_makes_every_key_prints_the_public_parts_and_never_overwrites(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "keys"
    made = CliRunner().invoke(
        main, ["keys", "init", str(directory)], env={"PUBLIC_BASE_URL": "https://pass.example.fr"}
    )
    assert made.exit_code == 0, made.output
    assert (directory / "ledger.pem").is_file()
    kid = (directory / "voucher" / "current").read_text().strip()
    assert (directory / "voucher" / f"{kid}.pem").is_file()
    assert oct((directory / "ledger.pem").stat().st_mode & 0o777) == "0o600"
    jwk = json.loads(made.output.split("voucher-signing key (JWK): ", 1)[1].splitlines()[0])
    assert jwk["kid"] == kid
    assert "d" not in jwk  # the public part only
    assert "pass.example.fr/ledger+" in made.output
    assert "PRIVATE KEY" not in made.output
    before = {p: p.read_bytes() for p in directory.rglob("*") if p.is_file()}
    again = CliRunner().invoke(main, ["keys", "init", str(directory)])
    assert again.exit_code == 1
    assert "never overwrites" in again.output
    assert {p: p.read_bytes() for p in directory.rglob("*") if p.is_file()} == before


def test_production_serves_from_keys_made_by_init_on_a_read_only_directory(
    tmp_path: Path, database_url: str
) -> None:
    """Keys and Docker secrets are mounted read-only: the service only reads them. (Root
    ignores file modes, so what is checked is that nothing in the directory changes.)"""
    directory = tmp_path / "keys"
    assert CliRunner().invoke(main, ["keys", "init", str(directory)]).exit_code == 0
    for path in [directory, *directory.rglob("*")]:
        path.chmod(0o500 if path.is_dir() else 0o400)
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in directory.rglob("*")
              if p.is_file()}  # fmt: skip
    env = {
        "VOUCHER_SERVICE_ENV": "production",
        "DATABASE_URL": database_url,
        "VOUCHER_SERVICE_KEYS_DIR": str(directory),
        "VOUCHER_SERVICE_SECRET": STRONG_SECRET,
        "PUBLIC_BASE_URL": "https://pass.example.fr",
    }
    from voucher_service.web.app import create_app

    app = create_app(Settings.from_env(env), start_sequencer=False)
    try:
        jwks = app.test_client().get("/.well-known/jwks.json").json
        assert [key["kid"] for key in jwks["keys"]] == [
            (directory / "voucher" / "current").read_text().strip()
        ]
    finally:
        app.extensions["voucher_service"].database.dispose()
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in directory.rglob("*")
             if p.is_file()}  # fmt: skip
    assert after == before
    assert not (directory / ".lock").exists()


def test_db_upgrade_needs_only_the_database_url(tmp_path: Path) -> None:
    env = {
        "VOUCHER_SERVICE_ENV": "production",
        "DATABASE_URL": f"sqlite:///{tmp_path}/migrated.db",
        "VOUCHER_SERVICE_KEYS_DIR": "",
        "VOUCHER_SERVICE_SECRET": "",
    }
    answer = CliRunner().invoke(main, ["db", "upgrade"], env=env)
    assert answer.exit_code == 0, answer.output
    assert (tmp_path / "migrated.db").is_file()


def test_db_upgrade_never_prints_the_database_password() -> None:
    env = {"DATABASE_URL": "postgresql://svc:s3cr3t-pw@127.0.0.1:1/none"}
    answer = CliRunner().invoke(main, ["db", "upgrade"], env=env)
    assert answer.exit_code == 1
    assert "s3cr3t-pw" not in answer.output
    assert "***" in answer.output


@pytest.mark.parametrize(
    "raw",
    ["pass.example.fr", "ftp://pass.example.fr", "https://", "https://x.fr/?a=1", "https://x.fr#r"],
)
def test_a_public_base_url_without_scheme_or_host_is_refused(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="PUBLIC_BASE_URL"):
        Settings.from_env({"PUBLIC_BASE_URL": raw})


def test_a_public_base_url_loses_its_trailing_slash_and_warns_past_40_characters() -> None:
    short = Settings.from_env({"PUBLIC_BASE_URL": "https://pass.example.fr/"})
    assert short.public_base_url == "https://pass.example.fr"
    assert warnings_for(short) == []
    long = Settings.from_env(
        {"PUBLIC_BASE_URL": "https://cheques-numeriques.haute-vienne.example.fr"}
    )
    [warning] = warnings_for(long)
    assert "QR codes" in warning


def test_the_periodic_jobs_run_in_the_web_process_only_in_development() -> None:
    production = {"VOUCHER_SERVICE_ENV": "production", "VOUCHER_SERVICE_SECRET": STRONG_SECRET,
                  "VOUCHER_SERVICE_KEYS_DIR": "k", "DATABASE_URL": "sqlite://"}  # fmt: skip
    assert Settings.from_env({}).run_sequencer is True
    assert Settings.from_env(production).run_sequencer is False
    assert Settings.from_env({**production, "VOUCHER_SERVICE_SEQUENCER": "on"}).run_sequencer
    with pytest.raises(ConfigurationError, match="on or off"):
        Settings.from_env({"VOUCHER_SERVICE_SEQUENCER": "maybe"})


def test_the_worker_integrates_the_ledger_and_stops_cleanly_on_sigterm(
    database_url: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "VOUCHER_SERVICE_KEYS_DIR": str(tmp_path / "keys"),
        "PUBLIC_BASE_URL": "https://pass.example.fr",
        "VOUCHER_SERVICE_MERGE_DELAY_SECONDS": "0.4",
    }
    assert run(env, "demo", "--json").exit_code == 0  # queues the demo's allocation
    from voucher_service.db import Database
    from voucher_service.ledger.sequencer import log_size

    database = Database(database_url)
    try:
        with database.read() as session:
            assert log_size(session) == 0
        worker = subprocess.Popen(
            [sys.executable, "-m", "voucher_service.cli", "worker"],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 20
            size = 0
            while size == 0 and time.monotonic() < deadline:
                time.sleep(0.1)
                with database.read() as session:
                    size = log_size(session)
            assert size >= 1
        finally:
            worker.send_signal(signal.SIGTERM)
            _, errors = worker.communicate(timeout=20)
        assert worker.returncode == 0, errors
        assert "worker running: ledger-sequencer every 0.2 s, idempotency-purge" in errors
        assert "worker stopped" in errors
    finally:
        database.dispose()


def test_the_worker_once_runs_each_job_and_exits(env: dict[str, str]) -> None:
    answer = run(env, "worker", "--once")
    assert answer.exit_code == 0, answer.output
    assert answer.output.splitlines() == [
        "ran ledger-sequencer",
        "ran idempotency-purge",
        "ran voucher-expiry",
    ]


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "VOUCHER_SERVICE_KEYS_DIR": str(tmp_path / "keys"),
        "PUBLIC_BASE_URL": "https://pass.example.fr",
    }
