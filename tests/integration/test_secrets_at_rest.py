"""Issue 7 (1): no voucher code, token or beneficiary reference rests in clear anywhere.

The whole database is dumped after issuing, replaying, redeeming (by token and by code)
and replaying again, and searched for every secret; so are the logs of those requests.
"""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from tests.conftest import World
from voucher_service.idempotency.models import IdempotencyRecord
from voucher_service.vouchers.codes import format_code, normalise_code

REFERENCE = "Dossier-2026-0042 été"


def _dump(database_url: str) -> bytes:
    """Every byte the database holds, as a backup would: the file and its WAL for SQLite,
    pg_dump for PostgreSQL."""
    if database_url.startswith("sqlite"):
        path = Path(database_url.split("///", 1)[1])
        raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
        with sqlite3.connect(path) as connection:
            text = "\n".join(connection.iterdump())
        return raw + text.encode()
    dsn = database_url.replace("postgresql+psycopg://", "postgresql://")
    return subprocess.run(["pg_dump", dsn], check=True, capture_output=True).stdout


def _secrets(booklet: dict[str, Any]) -> list[str]:
    found = [REFERENCE, REFERENCE.casefold(), "dossier-2026-0042"]
    for voucher in booklet["vouchers"]:
        compact = normalise_code(voucher["code"])
        token = voucher["token"]
        found += [voucher["code"], compact, compact.lower(), format_code(compact), token]
        found.append(token.rsplit(".", 1)[1])  # the signature alone
    return found


def test_no_code_token_or_reference_rests_in_clear(
    app: Flask, world: World, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    issue_headers = world.headers("issuer", "booklet-1")
    body = {"program_id": world.program_id, "beneficiary_ref": REFERENCE, "size": 4}
    first = world.client.post("/v1/booklets", json=body, headers=issue_headers)
    replay = world.client.post("/v1/booklets", json=body, headers=issue_headers)
    assert first.status_code == replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    booklet = first.json
    # The replay gives back usable vouchers: the same ids, codes and tokens.
    assert replay.json == booklet

    vouchers = booklet["vouchers"]
    by_token = world.redeem(key="redeem-1", token=vouchers[0]["token"])
    assert by_token.status_code == 201
    assert world.redeem(key="redeem-1", token=vouchers[0]["token"]).status_code == 201
    by_code = world.redeem(key="redeem-2", code=vouchers[1]["code"])
    assert by_code.status_code == 201
    assert world.redeem(key="redeem-2", code=vouchers[1]["code"]).status_code == 201
    checked = world.client.post(
        "/v1/vouchers/verify", json={"code": vouchers[2]["code"]}, headers=world.headers("partner")
    )
    assert checked.status_code == 200

    dump = _dump(database_url)
    assert len(dump) > 10_000  # a real dump, not an empty file
    logs = "\n".join(record.getMessage() for record in caplog.records)
    for secret in _secrets(booklet):
        assert secret.encode() not in dump, f"{secret!r} is in the database in clear"
        assert secret not in logs, f"{secret!r} is in the logs"


def test_a_replay_still_verifies_and_redeems(world: World) -> None:
    headers = world.headers("issuer", "booklet-replayed")
    body = {"program_id": world.program_id, "beneficiary_ref": "case-9", "size": 2}
    world.client.post("/v1/booklets", json=body, headers=headers)
    replayed = world.client.post("/v1/booklets", json=body, headers=headers).json
    assert world.redeem(token=replayed["vouchers"][0]["token"]).status_code == 201
    assert world.redeem(code=replayed["vouchers"][1]["code"]).status_code == 201


def test_a_stored_answer_moved_to_another_key_does_not_open(app: Flask, world: World) -> None:
    """The sealed answer is bound to its API key and Idempotency-Key: copying it onto
    another record (as a database writer could) does not replay it there."""
    database = app.extensions["voucher_service"].database
    body = {"program_id": world.program_id, "beneficiary_ref": "case-7", "size": 1}
    world.client.post("/v1/booklets", json=body, headers=world.headers("issuer", "k-source"))
    other = {"program_id": world.program_id, "beneficiary_ref": "case-8", "size": 1}
    second = world.client.post(
        "/v1/booklets", json=other, headers=world.headers("issuer", "k-target")
    )
    assert second.status_code == 201
    with database.atomic() as session:
        sealed = session.scalar(
            select(IdempotencyRecord.body).where(IdempotencyRecord.key == "k-source")
        )
        session.execute(
            update(IdempotencyRecord).where(IdempotencyRecord.key == "k-target").values(body=sealed)
        )
    replay = world.client.post(
        "/v1/booklets", json=other, headers=world.headers("issuer", "k-target")
    )
    assert replay.status_code == 500
    assert "vouchers" not in replay.json


def test_the_fingerprint_is_keyed(app: Flask, world: World) -> None:
    """The request's fingerprint is a keyed hash: a guessed reference cannot be checked
    against it without the service's secret."""
    import hashlib
    import json

    database = app.extensions["voucher_service"].database
    body = {"program_id": world.program_id, "beneficiary_ref": "case-3", "size": 1}
    key = uuid.uuid4().hex
    world.client.post("/v1/booklets", json=body, headers=world.headers("issuer", key))
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    unkeyed = hashlib.sha256(b"/v1/booklets\x00" + canonical.encode()).hexdigest()
    with database.read() as session:
        stored = session.scalar(
            select(IdempotencyRecord.fingerprint).where(IdempotencyRecord.key == key)
        )
    assert stored is not None and len(stored) == 64
    assert stored != unkeyed
