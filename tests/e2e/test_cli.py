"""The `voucher-service` command, run with click's runner against a real database."""

from __future__ import annotations

import json
import secrets
import zipfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import Clock
from voucher_service.cli import main
from voucher_service.demo import DEMO_HISTORY

# What the demo's first run writes to the ledger: the allocation, last month's booklet and
# its redemptions (each of the last two kept under an Idempotency-Key).
DEMO_ENTRIES = 2 + len(DEMO_HISTORY)
DEMO_KEYED = 1 + len(DEMO_HISTORY)


@pytest.fixture
def env(database_url: str, keys_dir: Path, tmp_path: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "VOUCHER_SERVICE_KEYS_DIR": str(tmp_path / "keys"),
        "PUBLIC_BASE_URL": "https://pass.example.fr",
    }


@pytest.fixture
def create_app() -> Any:
    """The app as `voucher_service.wsgi` builds it, from the environment; disposed after."""
    from voucher_service.web.app import create_app as factory

    made: list[Any] = []

    def make() -> Any:
        made.append(factory())
        return made[-1]

    yield make
    for app in made:
        app.extensions["voucher_service"].database.dispose()


def run(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def demo_program_id(env: dict[str, str]) -> str:
    from voucher_service.db import Database
    from voucher_service.programs.models import Program

    database = Database(env["DATABASE_URL"])
    with database.read() as session:
        program_id = session.query(Program.id).scalar()
    database.dispose()
    assert isinstance(program_id, str)
    return program_id


def demo_and_client(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, create_app: Any
) -> tuple[dict[str, str], Any]:
    """The demo's fresh keys, and a test client of the app the same environment makes."""
    keys: dict[str, str] = json.loads(run(env, "demo", "--json").output)["keys"]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("VOUCHER_SERVICE_SEQUENCER", "off")
    return keys, create_app().test_client()


def test_db_upgrade_is_idempotent(env: dict[str, str]) -> None:
    assert run(env, "db", "upgrade").exit_code == 0
    assert run(env, "db", "upgrade").exit_code == 0


def test_demo_seeds_once_and_mints_fresh_keys_each_run(env: dict[str, str]) -> None:
    first = json.loads(run(env, "demo", "--json").output)
    second = json.loads(run(env, "demo", "--json").output)
    assert set(first["keys"]) == {"admin", "issuer", "partner", "auditor"}
    assert first["keys"] != second["keys"]
    assert first["base_url"] == "https://pass.example.fr"
    from voucher_service.db import Database
    from voucher_service.programs.models import Program

    database = Database(env["DATABASE_URL"])
    with database.read() as session:
        assert session.query(Program).count() == 1
    database.dispose()


def test_demo_is_refused_in_production(env: dict[str, str]) -> None:
    production = {
        **env,
        "VOUCHER_SERVICE_ENV": "production",
        "VOUCHER_SERVICE_SECRET": secrets.token_hex(32),
    }
    result = CliRunner().invoke(main, ["demo"], env=production)
    assert result.exit_code != 0
    assert "refused in production" in result.output


def test_apikey_create_prints_a_key_once_that_the_api_accepts(
    env: dict[str, str], keys_dir: Path
) -> None:
    made = json.loads(run(env, "apikey", "create", "--role", "auditor", "--json").output)
    assert made["role"] == "auditor"
    assert made["key"].startswith("vsk_")
    bad = CliRunner().invoke(main, ["apikey", "create", "--role", "issuer"], env=env)
    assert bad.exit_code != 0
    assert "organisation" in bad.output


def test_the_whole_life_of_a_voucher_then_an_offline_audit(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, create_app: Any
) -> None:
    keys, client = demo_and_client(env, monkeypatch, create_app)
    program = client.get("/v1/partners", headers={"Authorization": f"Bearer {keys['issuer']}"})
    assert program.status_code == 200
    program_id = demo_program_id(env)
    booklet = client.post(
        "/v1/booklets",
        json={"program_id": program_id, "beneficiary_ref": "dossier-1"},
        headers={"Authorization": f"Bearer {keys['issuer']}", "Idempotency-Key": "b"},
    ).json
    redeemed = client.post(
        "/v1/redemptions",
        json={"token": booklet["vouchers"][0]["token"]},
        headers={"Authorization": f"Bearer {keys['partner']}", "Idempotency-Key": "r"},
    )
    assert redeemed.status_code == 201
    assert f"integrated {DEMO_ENTRIES + 2} entries" in run(env, "ledger", "integrate").output
    archive = client.get("/v1/audit/bundle", headers={"Authorization": f"Bearer {keys['auditor']}"})
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(archive.data)
    archive.close()
    with zipfile.ZipFile(bundle) as opened:
        assert set(opened.namelist()) == {
            "entries.jsonl", "checkpoint", "checkpoint.key", "jwks.json", "manifest.json"
        }  # fmt: skip
    key = client.get("/v1/ledger/checkpoint/key").text
    (tmp_path / "key").write_text(key)
    verified = CliRunner().invoke(
        main, ["audit", "verify", str(bundle), "--key", str(tmp_path / "key")]
    )
    assert verified.exit_code == 0, verified.output
    foreign = "pass.example.fr/ledger+00000000+AQ" + "A" * 42 + "="
    refused = CliRunner().invoke(main, ["audit", "verify", str(bundle), "--key", foreign])
    assert refused.exit_code != 0


def test_keys_rotate_signs_new_vouchers_with_a_new_key_and_keeps_the_old_published(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, create_app: Any
) -> None:
    keys = json.loads(run(env, "demo", "--json").output)["keys"]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("VOUCHER_SERVICE_SEQUENCER", "off")
    program_id = demo_program_id(env)

    def issue(app_client: Any, key: str) -> Any:
        return app_client.post(
            "/v1/booklets",
            json={"program_id": program_id, "beneficiary_ref": key},
            headers={"Authorization": f"Bearer {keys['issuer']}", "Idempotency-Key": key},
        ).json["vouchers"][0]

    before = create_app().test_client()
    old_voucher = issue(before, "before")
    old_kids = [k["kid"] for k in before.get("/.well-known/jwks.json").json["keys"]]
    assert "published key" in run(env, "keys", "rotate", "--after", "0s").output
    after = create_app().test_client()
    new_voucher = issue(after, "after")
    kids = [k["kid"] for k in after.get("/.well-known/jwks.json").json["keys"]]
    assert len(kids) == 2
    assert set(old_kids) < set(kids)
    import jwt

    assert jwt.get_unverified_header(new_voucher["token"])["kid"] not in old_kids
    partner = {"Authorization": f"Bearer {keys['partner']}", "Idempotency-Key": "old"}
    assert (
        after.post(
            "/v1/redemptions", json={"token": old_voucher["token"]}, headers=partner
        ).status_code
        == 201
    )


def test_programmes_organisations_and_partners_are_created_from_json_files(
    env: dict[str, str], tmp_path: Path
) -> None:
    from tests.conftest import PARTNER, PROGRAM

    run(env, "db", "upgrade")
    (tmp_path / "program.json").write_text(json.dumps(PROGRAM))
    program = json.loads(run(env, "program", "create", str(tmp_path / "program.json")).output)
    assert program["code"] == "HV87"
    assert program["figures"]["available_cents"] == PROGRAM["budget_cents"]
    organisation = CliRunner().invoke(
        main, ["organisation", "create"], env=env,
        input=json.dumps({"name": "CCAS", "kind": "ccas", "programs": [program["id"]]}),
    )  # fmt: skip
    assert json.loads(organisation.output)["programs"] == [program["id"]]
    (tmp_path / "partner.json").write_text(json.dumps({**PARTNER, "programs": [program["id"]]}))
    partner = json.loads(run(env, "partner", "create", str(tmp_path / "partner.json")).output)
    assert partner["siret"] == PARTNER["siret"]
    again = CliRunner().invoke(main, ["partner", "create", str(tmp_path / "partner.json")], env=env)
    assert again.exit_code != 0
    assert "exists already" in again.output
    (tmp_path / "bad.json").write_text(json.dumps({**PROGRAM, "code": "x", "currency": "USD"}))
    bad = CliRunner().invoke(main, ["program", "create", str(tmp_path / "bad.json")], env=env)
    assert bad.exit_code != 0
    assert "/currency" in bad.output


def test_idempotency_purge_forgets_keys_past_their_retention(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, create_app: Any, clock: Clock
) -> None:
    keys, client = demo_and_client(env, monkeypatch, create_app)
    # The demo's history was written last month: its keys are past their retention.
    assert run(env, "idempotency", "purge").output == f"purged {DEMO_KEYED} idempotency keys\n"
    issued = client.post(
        "/v1/booklets",
        json={"program_id": demo_program_id(env), "beneficiary_ref": "dossier-1"},
        headers={"Authorization": f"Bearer {keys['issuer']}", "Idempotency-Key": "b"},
    )
    assert issued.status_code == 201
    assert run(env, "idempotency", "purge").output == "purged 0 idempotency keys\n"
    clock.advance(hours=73)
    assert run(env, "idempotency", "purge").output == "purged 1 idempotency keys\n"


def test_ledger_integrate_waits_for_a_sequencer_holding_the_log_or_says_it_did_nothing(
    env: dict[str, str], database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("on SQLite the sequencer's lock is the write lock: nothing to wait for")
    import threading

    import psycopg

    from voucher_service.ledger.sequencer import SEQUENCER_LOCK

    run(env, "demo")  # queues the demo's allocation and history
    holder = psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://"))
    holder.execute("SELECT pg_advisory_lock(%s)", (SEQUENCER_LOCK,))
    busy = run(env, "ledger", "integrate", "--wait", "0.5")
    assert busy.exit_code != 0
    assert "nothing integrated" in busy.output
    release = threading.Timer(1.0, lambda: holder.execute("SELECT pg_advisory_unlock_all()"))
    release.start()
    waited = run(env, "ledger", "integrate")
    release.join()
    holder.close()
    assert waited.exit_code == 0, waited.output
    assert f"integrated {DEMO_ENTRIES} entries; log size {DEMO_ENTRIES}" in waited.output
