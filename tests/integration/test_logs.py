"""Structured logs: JSON lines, a request id on every answer and every line of its request,
one access line per request, and never a token, code, API key or beneficiary reference."""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import World, with_settings
from voucher_service.config import Settings
from voucher_service.logs import configure_logging, redact_text
from voucher_service.vouchers.codes import check_character, format_code, normalise_code

REFERENCE = "dossier-CCAS-2026-0042-Dupont"
NEW_ID = re.compile(r"[0-9a-f]{32}")


class Captured:
    """Everything the service logs, through the real formatter, at DEBUG."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        parsed = []
        for line in self.text.splitlines():
            record = json.loads(line)  # every line is one JSON object
            assert isinstance(record, dict)
            parsed.append(record)
        return parsed

    def access(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["event"] == "request"]


@pytest.fixture
def logs(app: Flask, settings: Settings) -> Iterator[Captured]:
    captured = Captured()
    configure_logging(settings, stream=captured.stream, level=logging.DEBUG)
    yield captured
    configure_logging(settings)


def test_a_sane_request_id_is_sent_back(client: FlaskClient) -> None:
    for given in ("edge-7f3a.0_1", "A" * 128, "x"):
        answer = client.get("/healthz", headers={"X-Request-Id": given})
        assert answer.headers["X-Request-Id"] == given


def test_an_insane_request_id_is_replaced(client: FlaskClient) -> None:
    for given in ("", "a b", "A" * 129, "id\u00e9", "id;drop", "eyJ/../x"):
        answer = client.get("/healthz", headers={"X-Request-Id": given})
        assert NEW_ID.fullmatch(answer.headers["X-Request-Id"]), given


def test_without_one_each_request_is_given_a_new_id_even_when_refused(
    client: FlaskClient,
) -> None:
    answers = [
        client.get("/healthz"),
        client.get("/nowhere"),
        client.post("/v1/redemptions", json={}),  # no key: 401
        client.delete("/healthz"),  # 405
    ]
    ids = [answer.headers["X-Request-Id"] for answer in answers]
    assert [answer.status_code for answer in answers] == [200, 404, 401, 405]
    assert all(NEW_ID.fullmatch(made) for made in ids)
    assert len(set(ids)) == len(ids)


def test_each_request_logs_one_json_access_line(world: World, logs: Captured) -> None:
    booklet = world.issue(size=1).json
    answer = world.client.get(
        f"/v1/booklets/{booklet['id']}",
        headers={**world.headers("issuer"), "X-Request-Id": "trace-42"},
    )
    assert answer.status_code == 200

    issued, read = logs.access()
    assert read == read | {
        "event": "request",
        "level": "info",
        "logger": "voucher_service.access",
        "method": "GET",
        "route": "/v1/booklets/<uuid:booklet_id>",
        "status": 200,
        "request_id": "trace-42",
    }
    assert read["duration_ms"] >= 0
    assert read["principal_id"] == issued["principal_id"] != world.keys["issuer"]
    assert read["timestamp"].endswith("Z")
    assert booklet["id"] not in logs.text  # the route, never the path


@pytest.fixture
def noisy_app(app: Flask) -> Flask:
    """The service with two views that log, as any module may, inside a request."""

    def standard() -> str:
        logging.getLogger("voucher_service.somewhere").warning("inside %s", "the request")
        structlog.stdlib.get_logger("voucher_service.elsewhere").debug("detail", count=2)
        return "ok"

    def failing() -> str:
        raise RuntimeError(f"boom with {FAKE_TOKEN} and {FAKE_KEY} and {FAKE_CODE}")

    app.add_url_rule("/test/logs", view_func=standard)
    app.add_url_rule("/test/fails", view_func=failing)
    return app


FAKE_TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJqdGkiOiJ4eHh4In0.c2lnbmF0dXJlLWhlcmU"
FAKE_KEY = "vsk_" + secrets.token_urlsafe(32)
FAKE_CODE = format_code("7KQ3MZ9RT2HX" + check_character("7KQ3MZ9RT2HX"))


def test_standard_library_and_structlog_lines_carry_the_request_id(
    noisy_app: Flask, logs: Captured
) -> None:
    answer = noisy_app.test_client().get("/test/logs", headers={"X-Request-Id": "req-1"})
    assert answer.status_code == 200

    standard, detail, access = logs.lines()
    assert standard == standard | {
        "event": "inside the request",
        "level": "warning",
        "logger": "voucher_service.somewhere",
        "request_id": "req-1",
    }
    assert detail == detail | {"event": "detail", "count": 2, "request_id": "req-1"}
    assert access["request_id"] == "req-1"
    noisy_app.test_client().get("/healthz")
    assert "req-1" not in logs.text.splitlines()[-1]  # unbound once its request is over


def test_an_unexpected_error_is_one_json_line_with_its_traceback_and_no_secret(
    noisy_app: Flask, logs: Captured
) -> None:
    answer = noisy_app.test_client().get("/test/fails")
    assert answer.status_code == 500

    failure, access = logs.lines()
    assert failure["level"] == "error"
    assert failure["request_id"] == access["request_id"] == answer.headers["X-Request-Id"]
    assert "Traceback" in failure["exception"]
    assert "RuntimeError: boom with [token] and [api-key] and [code]" in failure["exception"]
    for secret in (FAKE_TOKEN, FAKE_KEY, FAKE_CODE, normalise_code(FAKE_CODE)):
        assert secret not in logs.text


def test_the_development_server_s_access_lines_are_left_to_ours(logs: Captured) -> None:
    server = logging.getLogger("werkzeug")
    server.info('127.0.0.1 - - [29/Nov/2026 10:00:00] "%s" %s %s', "GET /x?holder=Jean", 200, "-")
    server.error("a real server error")
    assert [line["event"] for line in logs.lines()] == ["a real server error"]


def test_a_terminal_in_development_gets_a_readable_console(settings: Settings) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    try:
        for environment, json_lines in (("development", False), ("production", True)):
            terminal = Terminal()
            configure_logging(with_settings(settings, environment=environment), stream=terminal)
            logging.getLogger("voucher_service.test").warning("hello")
            line = terminal.getvalue().strip()
            assert "hello" in line
            assert line.startswith("{") is json_lines
    finally:
        configure_logging(settings)


def test_secrets_are_scrubbed_from_any_text() -> None:
    compact = normalise_code(FAKE_CODE)
    text = (
        f"token {FAKE_TOKEN}, key {FAKE_KEY}, Authorization: Bearer abc.def, "
        f"code {FAKE_CODE} or {compact} or {compact.lower()} or {FAKE_CODE.replace('-', ' ')}"
    )
    assert redact_text(text) == (
        "token [token], key [api-key], Authorization: Bearer [redacted], "
        "code [code] or [code] or [code] or [code]"
    )
    untouched = f"id {uuid.uuid4()} hex {uuid.uuid4().hex} siret 73282932000074 ABCDEFGHJKMNP"
    assert redact_text(untouched) == untouched  # a random 13-letter word has a bad check


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_driver_error_while_storing_bank_details_logs_no_iban(
    world: World, logs: Captured
) -> None:
    """A database error names its parameters, the partner's whole IBAN among them: its log
    line (the traceback too) shows `[iban]` instead, whether compact or in groups of four."""
    from sqlalchemy import text

    database = world.client.application.extensions["voucher_service"].database
    with database.atomic() as session:  # the database refuses the update: a driver error
        session.execute(
            text(
                "CREATE TRIGGER refuse_bank BEFORE UPDATE OF bank_iban ON partners "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        )
    iban = "FR7630006000011234567890189"
    answer = world.client.put(
        f"/v1/partners/{world.partner_id}/bank-account",
        json={"holder": "Médiathèque", "iban": iban, "bic": "AGRIFRPPXXX"},
        headers=world.headers("admin"),
    )
    assert answer.status_code == 500
    assert "unexpected error" in logs.text
    assert iban not in logs.text and "3000 6000 0112" not in logs.text
    assert redact_text("FR76 3000 6000 0112 3456 7890 189 or GB82WEST12345698765432") == (
        "[iban] or [iban]"
    )


def secrets_of(booklet: dict[str, Any], world: World, *more: str) -> list[str]:
    found = [REFERENCE, REFERENCE.casefold(), *world.keys.values(), *more]
    for voucher in booklet["vouchers"]:
        compact = normalise_code(voucher["code"])
        token = voucher["token"]
        found += [voucher["code"], compact, compact.lower(), token, token.rsplit(".", 1)[1]]
    return found


def test_no_log_line_holds_a_token_code_api_key_or_beneficiary_reference(
    world: World, logs: Captured
) -> None:
    client, partner = world.client, world.headers("partner")
    body = {"program_id": world.program_id, "beneficiary_ref": REFERENCE, "size": 4}
    issued = client.post("/v1/booklets", json=body, headers=world.headers("issuer", "booklet-1"))
    assert issued.status_code == 201
    booklet = issued.json
    first, second, third, fourth = booklet["vouchers"]
    wrong_key = "vsk_" + secrets.token_urlsafe(32)

    answers = [
        issued,
        client.post("/v1/booklets", json=body, headers=world.headers("issuer", "booklet-1")),
        world.redeem(token=first["token"]),
        world.redeem(code=second["code"], service="atelier-ordinateur"),
        world.redeem(token=first["token"]),  # refused: already redeemed
        world.redeem(code=normalise_code(second["code"]).lower()),  # refused too
        world.redeem(code=third["code"], amount=5),  # a bad request with a code in it
        client.post(
            "/v1/redemptions",
            data=f'{{"code": "{third["code"]}", "token": "{fourth["token"]}"',
            content_type="application/json",
            headers=world.headers("partner", "truncated"),
        ),
        client.post("/v1/vouchers/verify", json={"code": third["code"]}, headers=partner),
        client.post("/v1/vouchers/verify", json={"token": fourth["token"]}, headers=partner),
        client.post(
            "/v1/vouchers/verify",
            json={"code": third["code"], "token": fourth["token"]},
            headers=partner,
        ),
        client.post(
            "/v1/vouchers/verify",
            json={"code": third["code"]},
            headers={"Authorization": f"Bearer {wrong_key}"},
        ),
        client.post(
            "/v1/vouchers/verify",
            json={"code": third["code"]},
            headers={"Authorization": f"Token {world.keys['partner']}"},
        ),
        client.get(f"/v1/booklets/{booklet['id']}", headers=world.headers("issuer")),
        client.get("/metrics"),
    ]
    assert [answer.status_code for answer in answers] == [
        *(201, 201, 201, 201, 409, 409, 400, 400, 200, 200, 400, 401, 401, 200, 200)
    ]

    lines = logs.lines()
    assert lines, "nothing was logged"
    sent = {answer.headers["X-Request-Id"] for answer in answers}
    assert all(line.get("request_id") in sent for line in lines)
    assert sorted(line["request_id"] for line in logs.access()) == sorted(sent)
    for secret in secrets_of(booklet, world, wrong_key):
        assert secret not in logs.text, f"{secret[:12]}… is in the logs"
