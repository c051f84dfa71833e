"""Hardening through HTTP: bodies refused before they are read, and the headers of every
answer (issue 7)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder

from tests.conftest import World


class EndlessBody(io.RawIOBase):
    """A body that never ends, counting what the server reads of it."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        buffer[:] = b"x" * len(buffer)
        self.read_bytes += len(buffer)
        return len(buffer)


def test_a_body_over_64_kib_is_refused_with_413_before_it_is_read(world: World) -> None:
    stream = EndlessBody()
    environ = EnvironBuilder(
        path="/v1/redemptions",
        method="POST",
        content_type="application/json",
        headers=world.headers("partner", "big"),
    ).get_environ()
    environ["wsgi.input"] = stream  # what a server hands over: the socket, 300 MB announced
    environ["CONTENT_LENGTH"] = str(300 * 1024 * 1024)
    statuses: list[str] = []
    app = world.client.application
    body = b"".join(app(environ, lambda status, _headers: statuses.append(status)))
    assert statuses == ["413 REQUEST ENTITY TOO LARGE"]
    assert json.loads(body)["type"].endswith("/problems/request-too-large")
    assert stream.read_bytes == 0  # not a byte of it was read
    page = world.client.get("/problems/request-too-large")
    assert page.status_code == 200


def test_a_body_just_under_the_limit_is_read_and_judged(world: World) -> None:
    body = {"token": "x" * (60 * 1024)}
    response = world.client.post(
        "/v1/redemptions", json=body, headers=world.headers("partner", "under")
    )
    assert response.status_code == 400  # read, then judged by its schema
    assert response.json["type"].endswith("/problems/invalid-request")


@pytest.mark.parametrize(
    ("path", "role", "media"),
    [
        ("/healthz", None, "application/json"),
        ("/v1/programs/{program}", "admin", "application/json"),
        ("/v1/programs/00000000-0000-0000-0000-000000000000", "admin", "application/problem+json"),
        ("/problems/voucher-expired", None, "text/html; charset=utf-8"),
        ("/v1/ledger/checkpoint", None, "text/plain; charset=utf-8"),
        ("/v1/ledger/export.csv", "auditor", "text/csv; charset=utf-8"),
    ],
)
def test_every_answer_has_one_charset_and_no_sniffing(
    world: World, path: str, role: str | None, media: str
) -> None:
    headers = world.headers(role) if role else {}
    response = world.client.get(path.format(program=world.program_id), headers=headers)
    assert response.headers["Content-Type"] == media
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    if media.startswith("text/html"):
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy
        assert "frame-ancestors 'none'" in policy


def test_answers_that_carry_vouchers_are_not_stored(world: World) -> None:
    issued = world.issue()
    assert issued.headers["Cache-Control"] == "no-store"
    replay = world.client.post(
        "/v1/booklets",
        json={"program_id": world.program_id, "beneficiary_ref": "case-1"},
        headers=world.headers("issuer", "same-key"),
    )
    again = world.client.post(
        "/v1/booklets",
        json={"program_id": world.program_id, "beneficiary_ref": "case-1"},
        headers=world.headers("issuer", "same-key"),
    )
    assert replay.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/v1/redemptions", "from=9999-12-31T23:59:59-01:00"),
        ("/v1/redemptions", "to=0001-01-01T00:00:00%2B01:00"),
        ("/v1/ledger/entries", "from=9999-12-31T23:59:59-01:00"),
        ("/v1/redemptions", "cursor=" + "MjAyNi0wMS0wMVQwMDowMDowMCswMDowMHwA"),  # "…|\x00"
        ("/v1/redemptions", "cursor=OTk5OS0xMi0zMVQyMzo1OTo1OS0wMTowMHx4"),  # overflowing time
    ],
)
def test_extreme_times_and_forged_cursors_are_invalid_requests(
    world: World, path: str, query: str
) -> None:
    response = world.client.get(f"{path}?{query}", headers=world.headers("auditor"))
    assert response.status_code == 400, response.json
    assert response.json["type"].endswith("/problems/invalid-request")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/booklets", '{"program_id": "PROGRAM", "beneficiary_ref": "a", "size": 2.0}'),
        ("/v1/booklets", '{"program_id": "PROGRAM", "beneficiary_ref": "a", "size": NaN}'),
        ("/v1/partners", '{"latitude": NaN}'),
        ("/v1/partners", '{"latitude": Infinity}'),
        ("/v1/partners", '{"latitude": -Infinity}'),
    ],
)
def test_floats_for_whole_numbers_and_non_numbers_are_invalid_requests(
    world: World, path: str, body: str
) -> None:
    role = "issuer" if path == "/v1/booklets" else "admin"
    response = world.client.post(
        path,
        data=body.replace("PROGRAM", world.program_id),
        content_type="application/json",
        headers=world.headers(role, "floats"),
    )
    assert response.status_code == 400, response.json
    assert response.json["type"].endswith("/problems/invalid-request")


def test_schema_messages_do_not_recite_the_schema(world: World) -> None:
    response = world.client.post("/v1/vouchers/verify", json={}, headers=world.headers("partner"))
    assert response.status_code == 400
    messages = " ".join(error["message"] for error in response.json["errors"])
    assert "valid under" not in messages
    assert "{" not in messages


def test_a_partner_gets_inclusion_proofs_of_its_own_entries_only(world: World) -> None:
    from voucher_service.ledger.sequencer import integrate_all

    voucher = world.issue().json["vouchers"][0]
    redeemed = world.redeem(token=voucher["token"]).json
    services = world.client.application.extensions["voucher_service"]
    integrate_all(services.database, services.context)
    own = world.client.get(
        f"/v1/ledger/entries/{redeemed['ledger_entry']['id']}", headers=world.headers("partner")
    ).json["index"]
    issue_index = 1  # the allocation is 0, the issue 1: neither is the partner's

    def proof(role: str, index: int) -> int:
        answer = world.client.get(
            f"/v1/ledger/proof/inclusion?index={index}", headers=world.headers(role)
        )
        return answer.status_code

    assert proof("partner", own) == 200
    assert proof("partner", issue_index) == 404
    assert proof("other_partner", own) == 404
    assert proof("partner", 10_000) == 404
    assert proof("auditor", issue_index) == 200
    assert proof("auditor", own) == 200


UNREACHABLE = "postgresql+psycopg://root@127.0.0.1:9/nowhere"  # the discard port: refused


def test_a_database_that_cannot_be_reached_gives_503_with_retry_after(
    keys_dir: Path,
) -> None:
    from voucher_service.config import Settings
    from voucher_service.web.app import create_app

    settings = Settings(database_url=UNREACHABLE, keys_dir=keys_dir, run_sequencer=False)
    client = create_app(settings, start_sequencer=False).test_client()
    for method, path in (
        ("GET", "/readyz"),
        ("GET", "/v1/programs/00000000-0000-0000-0000-000000000000"),
        ("POST", "/v1/redemptions"),
        ("GET", "/v1/ledger/checkpoint"),
    ):
        response = client.open(
            path,
            method=method,
            json={"token": "x.y.z"} if method == "POST" else None,
            headers={"Authorization": "Bearer vsk_unknown", "Idempotency-Key": "k"},
        )
        assert response.status_code == 503, (path, response.json)
        assert response.json["type"].endswith("/problems/service-unavailable")
        assert int(response.headers["Retry-After"]) > 0
    assert client.get("/problems/service-unavailable").status_code == 200


def test_the_command_line_says_in_one_line_that_the_database_cannot_be_reached(
    tmp_path: Path,
) -> None:
    from click.testing import CliRunner

    from voucher_service.cli import main

    env = {"DATABASE_URL": UNREACHABLE, "VOUCHER_SERVICE_KEYS_DIR": str(tmp_path)}
    for command in (["apikey", "create", "--role", "auditor"], ["db", "upgrade"],
                    ["ledger", "integrate"], ["idempotency", "purge"]):  # fmt: skip
        result = CliRunner().invoke(main, command, env=env)
        assert result.exit_code != 0, command
        assert "cannot be reached" in result.output, (command, result.output)
        assert "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1


def test_api_keys_are_listed_without_secrets_and_a_revoked_one_stops_within_a_second(
    app: Any, world: World, settings: Any, database: Any
) -> None:
    import time

    from voucher_service.web.app import create_app

    listed = world.client.get("/v1/api-keys", headers=world.headers("admin"))
    assert listed.status_code == 200
    items = listed.json["items"]
    assert {item["role"] for item in items} == {"admin", "issuer", "partner", "auditor"}
    assert all("key" not in item for item in items)
    assert all(world.keys[role] not in listed.get_data(as_text=True) for role in world.keys)
    partner_key = next(item for item in items if item["partner_id"] == world.partner_id)

    other_worker = create_app(settings, database, start_sequencer=False).test_client()
    for client in (world.client, other_worker):  # both have the key in their cache
        assert client.get("/v1/redemptions", headers=world.headers("partner")).status_code == 200
    revoked = world.client.delete(
        f"/v1/api-keys/{partner_key['id']}", headers=world.headers("admin")
    )
    assert revoked.status_code == 200
    assert revoked.json["revoked_at"] is not None
    again = world.client.delete(f"/v1/api-keys/{partner_key['id']}", headers=world.headers("admin"))
    assert again.json["revoked_at"] == revoked.json["revoked_at"]
    time.sleep(1.1)
    for client in (world.client, other_worker):
        refused = client.get("/v1/redemptions", headers=world.headers("partner"))
        assert refused.status_code == 401
    missing = world.client.delete(
        "/v1/api-keys/00000000-0000-0000-0000-000000000000", headers=world.headers("admin")
    )
    assert missing.status_code == 404
    assert world.client.get("/v1/api-keys", headers=world.headers("auditor")).status_code == 403


def test_the_command_line_lists_and_revokes_api_keys(world: World, settings: Any) -> None:
    from click.testing import CliRunner

    from voucher_service.cli import main

    env = {
        "DATABASE_URL": settings.database_url,
        "VOUCHER_SERVICE_KEYS_DIR": str(settings.keys_dir),
    }
    listed = CliRunner().invoke(main, ["apikey", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    auditor = next(i for i in json.loads(listed.output)["items"] if i["role"] == "auditor")
    assert world.keys["auditor"] not in listed.output
    revoked = CliRunner().invoke(main, ["apikey", "revoke", auditor["id"]], env=env)
    assert revoked.exit_code == 0, revoked.output
    assert f"revoked {auditor['id']}" in revoked.output
    table = CliRunner().invoke(main, ["apikey", "list"], env=env)
    assert "revoked" in table.output
    unknown = CliRunner().invoke(main, ["apikey", "revoke", "nope"], env=env)
    assert unknown.exit_code != 0
    assert "no API key" in unknown.output


def test_redemptions_by_token_survive_the_servers_dropping_their_connections(
    world: World, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("terminating backends is PostgreSQL's")
    import psycopg

    vouchers = world.issue().json["vouchers"]
    assert world.redeem(token=vouchers[0]["token"]).status_code == 201  # the pool is warm
    dsn = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert killed is not None
    assert killed[0] >= 1
    statuses = [world.redeem(token=v["token"]).status_code for v in vouchers[1:]]
    assert statuses == [201] * 9
    replay = world.redeem(key="again", token=vouchers[1]["token"])
    assert replay.status_code == 409  # redeemed once, whatever the connections did
