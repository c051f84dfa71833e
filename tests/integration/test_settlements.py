"""Settlements through HTTP: a programme's Paris month settled once, a statement a partner; the
payment file made once and valid against its XSD; the bank's answer moving the ledger; and no
redemption both reversed and settled, whatever runs at the same time."""

from __future__ import annotations

import csv
import io
import json
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sepaxml
import xmlschema
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from tests.conftest import Clock, World, make_world
from tests.unit.test_printing import poppler, text_of
from voucher_service.auth.api import Principal
from voucher_service.clock import month_bounds, parse_month
from voucher_service.db import Database
from voucher_service.errors import ReversalNotAllowed
from voucher_service.idempotency.api import Idempotency
from voucher_service.ledger import accounts
from voucher_service.ledger.balances import balance, current_totals
from voucher_service.ledger.sequencer import integrate_all
from voucher_service.ledger.verify import verify_bundle
from voucher_service.settlements import api as settlements
from voucher_service.settlements.models import SettlementLine
from voucher_service.vouchers import redemption as redemptions
from voucher_service.vouchers.models import Redemption

IBAN = "FR76 3000 6000 0112 3456 7890 189"
OTHER_IBAN = "DE89 3704 0044 0532 0130 00"
XSD = Path(sepaxml.__file__).parent / "schemas" / "pain.001.001.09.xsd"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.fixture
def world(app: Flask, client: FlaskClient, clock: Clock) -> World:
    """The usual world at 10:00 on 2 November 2026 (Paris), both venues affiliated."""
    clock.current = at("2026-11-02T09:00:00+00:00")
    made = make_world(app, client)
    answer = made.client.patch(
        f"/v1/partners/{made.other_partner_id}",
        json={"programs": [made.program_id]},
        headers=made.headers("admin"),
    )
    assert answer.status_code == 200, answer.json
    return made


def slug(response: Any) -> str:
    return str(response.json["type"]).rpartition("/")[2]


def redeem_at(world: World, clock: Clock, moment: str, role: str = "partner", n: int = 1) -> Any:
    """Redeem `n` fresh vouchers at `moment` as `role`; their redemptions."""
    clock.current = at(moment)
    vouchers = world.issue(uuid.uuid4().hex, size=n).json["vouchers"]
    done = [world.redeem(role=role, token=v["token"]) for v in vouchers]
    assert all(r.status_code == 201 for r in done), [r.json for r in done]
    return [r.json for r in done]


def settle(world: World, period: str = "2026-11", key: str | None = None, **body: Any) -> Any:
    return world.client.post(
        "/v1/settlements",
        json={"program_id": world.program_id, "period": period, **body},
        headers=world.headers("admin", key or uuid.uuid4().hex),
    )


def answer(world: World, settlement_id: str, what: str, **body: Any) -> Any:
    return world.client.post(
        f"/v1/settlements/{settlement_id}/{what}", json=body, headers=world.headers("admin")
    )


def balances(world: World, *names: str) -> dict[str, int]:
    database: Database = world.client.application.extensions["voucher_service"].database
    with database.read() as session:
        totals = current_totals(session, names)
    return {name: balance(totals, name) for name in names}


def money(world: World) -> dict[str, int]:
    p, a, b = world.program_id, world.partner_id, world.other_partner_id
    named = {
        "payable": accounts.partner_payable(a),
        "paid": accounts.partner_paid(a),
        "other_payable": accounts.partner_payable(b),
        "other_paid": accounts.partner_paid(b),
        "in_payment": accounts.program_in_payment(p),
    }
    found = balances(world, *named.values())
    return {short: found[name] for short, name in named.items()}


@pytest.fixture
def november(world: World, clock: Clock) -> dict[str, Any]:
    """Three redemptions by one venue and two by the other in November, one of the first
    reversed; the clock then at 10:00 on 1 December (Paris)."""
    mine = redeem_at(world, clock, "2026-11-03T10:00:00+00:00", n=2)
    assert world.reverse(mine[0]["id"]).status_code == 200
    mine += redeem_at(world, clock, "2026-11-30T22:30:00+00:00")  # 23:30 in Paris: November
    theirs = redeem_at(world, clock, "2026-11-15T12:00:00+00:00", role="other_partner", n=2)
    clock.current = at("2026-12-01T09:00:00+00:00")
    return {"mine": mine, "theirs": theirs}


# Bank details


def test_a_bank_account_is_checked_and_read_back_masked(world: World) -> None:
    url = f"/v1/partners/{world.partner_id}/bank-account"
    body = {"holder": "Médiathèque  francophone", "iban": IBAN.lower(), "bic": "agrifrppxxx"}
    done = world.client.put(url, json=body, headers=world.headers("admin"))
    assert done.status_code == 200, done.json
    assert done.json == {
        "partner_id": world.partner_id,
        "holder": "Médiathèque francophone",
        "iban": "FR76 **** **** 0189",
        "bic": "AGRIFRPPXXX",
    }
    assert "30006000011234567890" not in done.text
    for field, value in (("iban", "FR76 3000 6000 0112 3456 7890 188"), ("bic", "AGRI")):
        refused = world.client.put(url, json={**body, field: value}, headers=world.headers("admin"))
        assert refused.status_code == 400
        assert [e["path"] for e in refused.json["errors"]] == [f"/{field}"]
    assert world.client.put(url, json=body, headers=world.headers("partner")).status_code == 403
    missing = f"/v1/partners/{uuid.uuid4()}/bank-account"
    assert world.client.put(missing, json=body, headers=world.headers("admin")).status_code == 404


def test_a_programme_debtor_account_is_checked_and_masked(world: World) -> None:
    url = f"/v1/programs/{world.program_id}/debtor-account"
    body = {"name": "Département de la Haute-Vienne", "iban": OTHER_IBAN, "bic": "DEUTDEFF500"}
    done = world.client.put(url, json=body, headers=world.headers("admin"))
    assert done.status_code == 200, done.json
    assert done.json["iban"] == "DE89 **** **** 3000"
    assert done.json["program_id"] == world.program_id
    bad = world.client.put(
        url, json={**body, "iban": "DE89 3704 0044 0532 0130"}, headers=world.headers("admin")
    )
    assert bad.status_code == 400 and bad.json["errors"][0]["path"] == "/iban"
    extra = world.client.put(url, json={**body, "x": 1}, headers=world.headers("admin"))
    assert extra.status_code == 400


# Settling a month


def test_a_month_is_settled_once_a_statement_a_partner_worth_its_redemptions(
    world: World, november: dict[str, Any]
) -> None:
    before = money(world)
    assert before["payable"] == 2000 and before["other_payable"] == 2000
    key = uuid.uuid4().hex
    first = settle(world, key=key)
    assert first.status_code == 201, first.json
    assert first.headers["Location"] == f"/v1/settlements/{first.json['id']}"
    body = first.json
    assert body["period"] == "2026-11" and body["status"] == "in_payment"
    assert body["cutoff"] == "2026-11-30T23:00:00Z"
    statements = {s["partner_id"]: s for s in body["statements"]}
    assert statements[world.partner_id]["count"] == 2
    assert statements[world.partner_id]["amount_cents"] == 2000
    assert statements[world.other_partner_id]["count"] == 2
    assert statements[world.other_partner_id]["amount_cents"] == 2000
    assert body["total_cents"] == 4000 == sum(s["amount_cents"] for s in statements.values())
    after = money(world)
    assert after["payable"] == 0 and after["other_payable"] == 0
    assert after["in_payment"] == 4000
    # The same request again replays; a new run settles nothing twice.
    replay = settle(world, key=key)
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.json == body
    again = settle(world)
    assert again.status_code == 201
    assert again.json["statements"] == [] and again.json["total_cents"] == 0
    assert again.json["status"] == "empty"
    assert money(world) == after
    listed = world.client.get(
        f"/v1/settlements?program_id={world.program_id}", headers=world.headers("auditor")
    ).json["items"]
    assert [s["id"] for s in listed] == [again.json["id"], body["id"]] or {
        s["id"] for s in listed
    } == {again.json["id"], body["id"]}


def test_a_month_is_the_paris_month(world: World, clock: Clock) -> None:
    late_november = redeem_at(world, clock, "2026-11-30T22:59:00+00:00")[0]  # 23:59 Paris
    early_december = redeem_at(world, clock, "2026-11-30T23:30:00+00:00")[0]  # 00:30 Paris
    clock.current = at("2026-12-01T08:00:00+00:00")
    november = settle(world).json
    assert [s["count"] for s in november["statements"]] == [1]
    clock.current = at("2027-01-01T00:00:00+01:00")
    december = settle(world, "2026-12").json
    assert [s["amount_cents"] for s in december["statements"]] == [1000]
    lines = statement_csv(world, november["id"], world.partner_id)
    assert [row[1] for row in lines[1:-1]] == [late_november["voucher_id"]]
    assert statement_csv(world, december["id"], world.partner_id)[1][0] == "01/12/2026 00:30"
    assert early_december["voucher_id"] in "".join(
        ";".join(r) for r in statement_csv(world, december["id"], world.partner_id)
    )


def test_a_month_not_over_and_bad_requests_are_refused_and_change_nothing(
    world: World, clock: Clock
) -> None:
    redeem_at(world, clock, "2026-11-30T22:00:00+00:00")
    clock.current = at("2026-11-30T22:59:59+00:00")  # 23:59:59 in Paris
    early = settle(world)
    assert early.status_code == 409 and slug(early) == "settlement-not-allowed"
    assert settle(world, "2026-13").status_code == 400
    assert settle(world, "2026-1").status_code == 400
    # January of year 1 begins in UTC in year 0, which a datetime cannot hold: was a 500.
    ancient = settle(world, "0001-01")
    assert ancient.status_code == 400 and slug(ancient) == "invalid-request", ancient.json
    unknown = world.client.post(
        "/v1/settlements",
        json={"program_id": str(uuid.uuid4()), "period": "2026-10"},
        headers=world.headers("admin", "k1"),
    )
    assert unknown.status_code == 404
    keyless = world.client.post(
        "/v1/settlements",
        json={"program_id": world.program_id, "period": "2026-10"},
        headers=world.headers("admin"),
    )
    assert keyless.status_code == 400 and slug(keyless) == "idempotency-key-required"
    issuer = world.client.post(
        "/v1/settlements",
        json={"program_id": world.program_id, "period": "2026-10"},
        headers=world.headers("issuer", "k2"),
    )
    assert issuer.status_code == 403
    assert money(world)["in_payment"] == 0
    listed = world.client.get("/v1/settlements", headers=world.headers("admin")).json
    assert listed == {"items": []}
    missing = world.client.get(f"/v1/settlements/{uuid.uuid4()}", headers=world.headers("admin"))
    assert missing.status_code == 404
    for what in ("confirm", "reject"):
        assert answer(world, str(uuid.uuid4()), what).status_code == 404


def test_a_settled_redemption_cannot_be_reversed_until_its_payment_is_rejected(
    world: World, clock: Clock
) -> None:
    last = redeem_at(world, clock, "2026-11-30T22:00:00+00:00", n=2)
    clock.current = at("2026-12-01T06:00:00+00:00")  # within the reversal window
    settled = settle(world).json
    refused = world.reverse(last[0]["id"])
    assert refused.status_code == 409 and slug(refused) == "reversal-not-allowed"
    assert "settled" in refused.json["detail"]
    # The bank refuses the payment: the redemptions stand, unsettled, payable again.
    assert answer(world, settled["id"], "reject", reason="AC04").status_code == 200
    assert money(world)["payable"] == 2000
    assert world.reverse(last[0]["id"]).status_code == 200
    again = settle(world).json
    assert [(s["count"], s["amount_cents"]) for s in again["statements"]] == [(1, 1000)]
    assert money(world)["payable"] == 0


def test_a_redemption_is_in_one_live_statement_at_most_by_constraint(
    world: World, november: dict[str, Any]
) -> None:
    settled = settle(world).json
    database: Database = world.client.application.extensions["voucher_service"].database
    with database.read() as session:
        line = session.scalars(select(SettlementLine)).first()
        assert line is not None
        row = {"statement_id": line.statement_id, "redemption_id": line.redemption_id}
    with pytest.raises(IntegrityError), database.atomic() as session:
        session.execute(insert(SettlementLine), [{**row, "amount_cents": 1000}])
    assert settled["total_cents"] == 4000


# Statements


def statement_csv(world: World, settlement_id: str, partner_id: str, role: str = "admin") -> Any:
    got = world.client.get(
        f"/v1/settlements/{settlement_id}/statements/{partner_id}.csv", headers=world.headers(role)
    )
    assert got.status_code == 200, got.json
    assert got.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(got.data.decode("utf-8-sig")), delimiter=";"))


def test_a_statement_has_a_line_a_redemption_and_its_total_in_french(
    world: World, november: dict[str, Any], clock: Clock
) -> None:
    settled = settle(world).json
    rows = statement_csv(world, settled["id"], world.partner_id, role="partner")
    assert rows[0] == ["Date (heure de Paris)", "Chèque", "Service", "Montant"]
    kept = november["mine"][1:]
    assert [(r[0], r[1], r[3]) for r in rows[1:-1]] == [
        ("03/11/2026 11:00", kept[0]["voucher_id"], "10,00\u00a0€"),
        ("30/11/2026 23:30", kept[1]["voucher_id"], "10,00\u00a0€"),
    ]
    assert rows[-1] == ["Total", "2 chèques", "", "20,00\u00a0€"]


@poppler
def test_a_statement_pdf_reads_in_french_with_its_total(
    world: World, november: dict[str, Any]
) -> None:
    settled = settle(world).json
    url = f"/v1/settlements/{settled['id']}/statements/{world.other_partner_id}.pdf"
    got = world.client.get(url, headers=world.headers("other_partner"))
    assert got.status_code == 200 and got.mimetype == "application/pdf"
    words = text_of(got.data)
    assert "Relevé de remboursement" in words and "novembre 2026" in words
    assert "Clic Saint-Junien" in words and "20,00 €" in words
    for redeemed in november["theirs"]:
        assert redeemed["voucher_id"] in words
    assert world.client.get(url, headers=world.headers("auditor")).data == got.data


def test_a_partner_sees_its_own_statement_only(world: World, november: dict[str, Any]) -> None:
    settled = settle(world).json
    url = f"/v1/settlements/{settled['id']}"
    mine = world.client.get(url, headers=world.headers("partner")).json
    assert [s["partner_id"] for s in mine["statements"]] == [world.partner_id]
    assert mine["total_cents"] == 2000
    auditor = world.client.get(url, headers=world.headers("auditor")).json
    assert len(auditor["statements"]) == 2 and auditor["total_cents"] == 4000
    theirs = f"{url}/statements/{world.other_partner_id}"
    for extension in ("csv", "pdf"):
        hidden = world.client.get(f"{theirs}.{extension}", headers=world.headers("partner"))
        assert hidden.status_code == 404
    assert world.client.get(url, headers=world.headers("issuer")).status_code == 403
    listed = world.client.get("/v1/settlements", headers=world.headers("partner")).json["items"]
    assert [len(s["statements"]) for s in listed] == [1]
    # A settlement where the partner has no statement does not exist for it.
    world.client.post(
        f"/v1/settlements/{settled['id']}/reject",
        json={"partner_ids": [world.partner_id]},
        headers=world.headers("admin"),
    )
    only_theirs = settle(world).json  # takes back the rejected redemptions: only ours
    assert [s["partner_id"] for s in only_theirs["statements"]] == [world.partner_id]
    other = world.client.get(
        f"/v1/settlements/{only_theirs['id']}", headers=world.headers("other_partner")
    )
    assert other.status_code == 404
    nobody = world.client.get(
        f"{url}/statements/{uuid.uuid4()}.csv", headers=world.headers("admin")
    )
    assert nobody.status_code == 404


# The payment file


def give_accounts(world: World, debtor: bool = True, other: bool = False) -> None:
    admin = world.headers("admin")
    if other:
        world.client.put(
            f"/v1/partners/{world.other_partner_id}/bank-account",
            json={"holder": "Clic Saint-Junien", "iban": OTHER_IBAN, "bic": "DEUTDEFF500"},
            headers=admin,
        )
    world.client.put(
        f"/v1/partners/{world.partner_id}/bank-account",
        json={"holder": "Médiathèque francophone", "iban": IBAN, "bic": "AGRIFRPPXXX"},
        headers=admin,
    )
    if debtor:
        world.client.put(
            f"/v1/programs/{world.program_id}/debtor-account",
            json={
                "name": "Département de la Haute-Vienne",
                "iban": OTHER_IBAN,
                "bic": "DEUTDEFF500",
            },
            headers=admin,
        )


def test_the_payment_file_is_valid_pain_001_001_09_and_the_same_bytes_twice(
    world: World, november: dict[str, Any], clock: Clock
) -> None:
    settled = settle(world).json
    url = f"/v1/settlements/{settled['id']}/payment-file"
    give_accounts(world, debtor=False)
    none = world.client.post(url, headers=world.headers("admin"))
    assert none.status_code == 409 and "debtor account" in none.json["detail"]
    give_accounts(world)
    first = world.client.post(url, headers=world.headers("admin"))
    assert first.status_code == 200, first.json
    assert first.mimetype == "application/xml"
    schema = xmlschema.XMLSchema(XSD)
    schema.validate(first.data.decode())
    document = schema.to_dict(first.data.decode())
    header = document["CstmrCdtTrfInitn"]["GrpHdr"]
    assert header["NbOfTxs"] == "1"  # the other venue has no bank account yet
    (transfer,) = document["CstmrCdtTrfInitn"]["PmtInf"][0]["CdtTrfTxInf"]
    assert transfer["Amt"]["InstdAmt"]["$"] == pytest.approx(20.00)
    assert b'<InstdAmt Ccy="EUR">20.00</InstdAmt>' in first.data
    assert b"FR7630006000011234567890189" in first.data
    clock.advance(hours=2)
    second = world.client.post(url, headers=world.headers("admin"))
    assert second.data == first.data
    shown = world.client.get(f"/v1/settlements/{settled['id']}", headers=world.headers("admin"))
    assert shown.json["payment_file"]["msg_id"] == header["MsgId"]
    # The check bites: a file with a malformed amount is refused by the same XSD.
    broken = first.data.replace(b">20.00<", b">20,00<").decode()
    assert not schema.is_valid(broken)
    assert world.client.post(url, headers=world.headers("partner")).status_code == 403
    missing = f"/v1/settlements/{uuid.uuid4()}/payment-file"
    assert world.client.post(missing, headers=world.headers("admin")).status_code == 404


def test_an_empty_settlement_has_no_payment_file(world: World, clock: Clock) -> None:
    give_accounts(world)
    clock.current = at("2026-12-01T09:00:00+00:00")
    empty = settle(world).json
    refused = world.client.post(
        f"/v1/settlements/{empty['id']}/payment-file", headers=world.headers("admin")
    )
    assert refused.status_code == 409 and slug(refused) == "settlement-not-allowed"


# The bank's answer


def payment_file(world: World, settlement_id: str) -> Any:
    return world.client.post(
        f"/v1/settlements/{settlement_id}/payment-file", headers=world.headers("admin")
    )


def test_only_a_statement_the_payment_file_orders_can_be_confirmed_paid(
    world: World, november: dict[str, Any]
) -> None:
    """Paid means the bank carried out our order: a statement confirmed before any payment
    file, or left out of it (its venue had no bank account then), was marked paid though no
    transfer was ever ordered. Such a statement can only be rejected, and settled again."""
    sid = settle(world).json["id"]
    before = money(world)
    for body in ({}, {"partner_ids": [world.partner_id]}):
        early = answer(world, sid, "confirm", **body)
        assert early.status_code == 409 and slug(early) == "settlement-not-allowed", early.json
    assert money(world) == before
    give_accounts(world)  # the other venue still has no bank account
    assert payment_file(world, sid).status_code == 200
    left_out = answer(world, sid, "confirm", partner_ids=[world.other_partner_id])
    assert left_out.status_code == 409 and slug(left_out) == "settlement-not-allowed"
    assert money(world) == before
    # Confirming "everything" confirms what the file ordered, and only that.
    whole = answer(world, sid, "confirm")
    assert whole.status_code == 200, whole.json
    statuses = {s["partner_id"]: s["status"] for s in whole.json["statements"]}
    assert statuses == {world.partner_id: "paid", world.other_partner_id: "in_payment"}
    assert money(world)["paid"] == 2000 and money(world)["other_paid"] == 0
    nothing = answer(world, sid, "confirm")
    assert nothing.status_code == 409 and slug(nothing) == "settlement-not-allowed"
    rejected = answer(world, sid, "reject", partner_ids=[world.other_partner_id])
    assert rejected.status_code == 200 and rejected.json["status"] == "partly_paid"
    assert money(world)["other_payable"] == 2000 and money(world)["in_payment"] == 0


def test_confirm_and_reject_move_the_ledger_once_and_the_audit_verifies(
    app: Flask, world: World, november: dict[str, Any], tmp_path: Path
) -> None:
    settled = settle(world).json
    sid = settled["id"]
    give_accounts(world, other=True)
    assert payment_file(world, sid).status_code == 200
    paid = answer(world, sid, "confirm", partner_ids=[world.partner_id])
    assert paid.status_code == 200, paid.json
    assert paid.json["status"] == "in_payment"
    rejected = answer(world, sid, "reject", partner_ids=[world.other_partner_id], reason="AC04")
    assert rejected.status_code == 200
    statuses = {s["partner_id"]: s["status"] for s in rejected.json["statements"]}
    assert statuses == {world.partner_id: "paid", world.other_partner_id: "rejected"}
    assert rejected.json["status"] == "partly_paid"
    assert money(world) == {
        "payable": 0,
        "paid": 2000,
        "other_payable": 2000,
        "other_paid": 0,
        "in_payment": 0,
    }
    # Answered once: paid stays paid, rejected stays rejected.
    for what, partner in (
        ("confirm", world.partner_id),
        ("reject", world.partner_id),
        ("confirm", world.other_partner_id),
        ("reject", world.other_partner_id),
    ):
        again = answer(world, sid, what, partner_ids=[partner])
        assert again.status_code == 409 and slug(again) == "settlement-not-allowed", what
    nothing_left = answer(world, sid, "confirm")
    assert nothing_left.status_code == 409
    stranger = answer(world, sid, "confirm", partner_ids=[str(uuid.uuid4())])
    assert stranger.status_code == 400 and stranger.json["errors"][0]["path"] == "/partner_ids/0"
    bad = answer(world, sid, "confirm", partner_ids=["not-an-id"])
    assert bad.status_code == 400
    # The rejected redemptions go into the next settlement; paid, they are paid once.
    next_run = settle(world).json
    assert [(s["partner_id"], s["amount_cents"]) for s in next_run["statements"]] == [
        (world.other_partner_id, 2000)
    ]
    assert payment_file(world, next_run["id"]).status_code == 200
    whole = world.client.post(
        f"/v1/settlements/{next_run['id']}/confirm", headers=world.headers("admin")
    )
    assert whole.status_code == 200 and whole.json["status"] == "paid"
    assert money(world) == {
        "payable": 0,
        "paid": 2000,
        "other_payable": 0,
        "other_paid": 2000,
        "in_payment": 0,
    }
    programme = world.client.get(f"/v1/programs/{world.program_id}", headers=world.headers("admin"))
    assert programme.status_code == 200
    services = app.extensions["voucher_service"]
    integrate_all(services.database, services.context)
    archive = world.client.get("/v1/audit/bundle", headers=world.headers("auditor"))
    path = tmp_path / "bundle.zip"
    path.write_bytes(archive.data)
    archive.close()
    report = verify_bundle(path)
    assert report.ok, report.render()


# Settling while partners reverse


def test_a_settlement_and_reversals_at_once_lose_and_double_nothing(
    app: Flask, world: World, clock: Clock
) -> None:
    redeemed = [
        one
        for minute in range(10, 50, 10)
        for one in redeem_at(world, clock, f"2026-11-30T21:{minute}:00+00:00", n=10)
    ]
    clock.current = at("2026-12-01T06:00:00+00:00")  # every reversal within its window
    services = app.extensions["voucher_service"]
    database: Database = services.database
    partner = Principal("p", "partner", partner_id=world.partner_id)
    admin = Principal("a", "admin")
    start = threading.Barrier(5)
    outcomes: dict[str, str] = {}
    failures: list[BaseException] = []

    def reverse_some(chunk: list[dict[str, Any]]) -> None:
        start.wait()
        for one in chunk:
            try:
                redemptions.reverse(database, services.context, partner, one["id"], "x", clock())
                outcomes[one["id"]] = "reversed"
            except ReversalNotAllowed:
                outcomes[one["id"]] = "refused"
            except BaseException as error:
                failures.append(error)

    def run_settlement() -> None:
        start.wait()
        try:
            settlements.settle_month(
                database,
                services.context,
                admin,
                world.program_id,
                parse_month("2026-11", "/period"),
                Idempotency("a", "race", "f"),
                clock(),
            )
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=run_settlement)]
    threads += [threading.Thread(target=reverse_some, args=(redeemed[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with database.read() as session:
        reversed_ids = set(
            session.scalars(select(Redemption.id).where(Redemption.reversed_at.is_not(None)))
        )
        settled_ids = set(
            session.scalars(
                select(SettlementLine.redemption_id).where(SettlementLine.released_at.is_(None))
            )
        )
    everyone = {r["id"] for r in redeemed}
    assert reversed_ids.isdisjoint(settled_ids)
    assert reversed_ids | settled_ids == everyone
    assert {i for i, o in outcomes.items() if o == "reversed"} == reversed_ids
    assert {i for i, o in outcomes.items() if o == "refused"} == settled_ids
    found = money(world)
    assert found["payable"] == 0  # every redemption left either by reversal or by settlement
    assert found["in_payment"] == 1000 * len(settled_ids)
    start_of_month, end = month_bounds(parse_month("2026-11", "/period"))
    assert start_of_month < at("2026-11-30T21:00:00+00:00") < end


def test_two_runs_of_one_month_at_once_settle_each_redemption_once(
    app: Flask, world: World, november: dict[str, Any], clock: Clock
) -> None:
    services = app.extensions["voucher_service"]
    admin = Principal("a", "admin")
    start = threading.Barrier(3)
    answers: list[dict[str, Any]] = []
    failures: list[BaseException] = []

    def run(key: str) -> None:
        start.wait()
        try:
            outcome = settlements.settle_month(
                services.database,
                services.context,
                admin,
                world.program_id,
                parse_month("2026-11", "/period"),
                Idempotency("a", key, key),
                clock(),
            )
            answers.append(json.loads(outcome.body))
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=run, args=(f"run-{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted(a["total_cents"] for a in answers) == [0, 0, 4000]
    assert money(world)["in_payment"] == 4000
