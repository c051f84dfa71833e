"""A year of the money cycle through the public surface: issuance, redemptions, reversals, a
lost booklet cancelled and reissued, expiry, monthly settlements (paid, and one rejected),
then the offline audit of the bundle and the figures, reports and closing statement, which
must all agree with the ledger to the cent. And the cycle's writers run concurrently with
redemptions without losing or doubling anything."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.conftest import Clock, World, make_world
from voucher_service.clock import month_bounds, month_of, month_text
from voucher_service.ledger import accounts
from voucher_service.ledger.sequencer import integrate_all
from voucher_service.ledger.verify import verify_bundle
from voucher_service.vouchers.expiry import expire_vouchers
from voucher_service.vouchers.models import Voucher

FACE = 1000
IBAN = "FR7630006000011234567890189"
BIC = "AGRIFRPP"
DEBTOR_IBAN = "FR7610107001011234567890129"
DEBTOR_BIC = "BREDFRPP"


@pytest.fixture
def year_world(app: Flask, client: FlaskClient, clock: Clock) -> World:
    # Start on the 2nd of a month at noon, Paris: every month's settlement happens after it.
    start = clock.current.astimezone(UTC)
    clock.current = datetime(start.year, start.month, 2, 11, 0, tzinfo=UTC)
    world = make_world(
        app,
        client,
        budget_cents=2_000 * FACE,
        voucher_validity_days=120,
        max_vouchers_per_beneficiary=30,
        valid_from="2020-01-01",
    )
    admin = world.headers("admin")
    affiliated = client.patch(
        f"/v1/partners/{world.other_partner_id}",
        json={"programs": [world.program_id]},
        headers=admin,
    )
    assert affiliated.status_code == 200, affiliated.json
    for partner_id in (world.partner_id, world.other_partner_id):
        answer = client.put(
            f"/v1/partners/{partner_id}/bank-account",
            json={"holder": "Association", "iban": IBAN, "bic": BIC},
            headers=admin,
        )
        assert answer.status_code == 200, answer.json
    debtor = client.put(
        f"/v1/programs/{world.program_id}/debtor-account",
        json={"name": "Département de la Haute-Vienne", "iban": DEBTOR_IBAN, "bic": DEBTOR_BIC},
        headers=admin,
    )
    assert debtor.status_code == 200, debtor.json
    return world


def settle(world: World, period: str) -> dict[str, Any]:
    answer = world.client.post(
        "/v1/settlements",
        json={"program_id": world.program_id, "period": period},
        headers=world.headers("admin", uuid.uuid4().hex),
    )
    assert answer.status_code == 201, answer.json
    settlement: dict[str, Any] = answer.json
    return settlement


def decide(world: World, settlement_id: str, verb: str, **body: Any) -> Any:
    return world.client.post(
        f"/v1/settlements/{settlement_id}/{verb}", json=body, headers=world.headers("admin")
    )


def figures(world: World) -> dict[str, int]:
    answer = world.client.get(f"/v1/programs/{world.program_id}", headers=world.headers("admin"))
    assert answer.status_code == 200, answer.json
    found: dict[str, int] = answer.json["figures"]
    return found


def test_a_year_of_activity_balances_and_verifies_offline(
    app: Flask, year_world: World, clock: Clock, tmp_path: Path
) -> None:
    world = year_world
    services = app.extensions["voucher_service"]
    partners = ["partner", "other_partner"]
    settlements: list[dict[str, Any]] = []
    lost: dict[str, Any] | None = None
    for month in range(12):
        # Three booklets a month; most vouchers redeemed, some never (they will expire).
        booklets = [world.issue(f"case-{month}-{n}", size=5).json for n in range(3)]
        for n, booklet in enumerate(booklets):
            for voucher in booklet["vouchers"][: 2 + n]:
                assert world.redeem(partners[n % 2], token=voucher["token"]).status_code == 201
        mistaken = world.redeem("partner", token=booklets[2]["vouchers"][4]["token"]).json
        assert world.reverse(mistaken["id"], "wrong voucher scanned").status_code == 200
        if month == 2:  # a booklet lost with three vouchers unused: cancelled, then reissued
            lost = booklets[0]
            cancelled = world.client.post(
                f"/v1/booklets/{lost['id']}/cancellation",
                json={"reason": "lost"},
                headers=world.headers("issuer"),
            )
            assert cancelled.status_code == 200, cancelled.json
            revoked = world.redeem(token=lost["vouchers"][4]["token"])
            assert revoked.status_code == 410
            assert revoked.json["type"].endswith("/voucher-revoked")
            reissued = world.client.post(
                f"/v1/booklets/{lost['id']}/reissue",
                headers=world.headers("issuer", uuid.uuid4().hex),
            )
            assert reissued.status_code == 201, reissued.json
            assert len(reissued.json["vouchers"]) == 3
        period = month_text(month_of(clock.current))
        clock.advance(days=31)
        clock.current = clock.current.replace(day=2)
        expire_vouchers(services.database, clock.current)
        settlements.append(settle(world, period))

    # Two settlements paid, one rejected for one partner.
    for settlement in settlements[:2]:
        assert decide(world, settlement["id"], "payment-file").status_code == 200
        assert decide(world, settlement["id"], "confirm").status_code == 200
    rejected = settlements[2]
    assert decide(world, rejected["id"], "payment-file").status_code == 200
    assert (
        decide(world, rejected["id"], "reject", partner_ids=[world.partner_id], reason="closed")
    ).status_code == 200
    assert decide(world, rejected["id"], "confirm").status_code == 200

    integrate_all(services.database, services.context)
    archive = world.client.get("/v1/audit/bundle", headers=world.headers("auditor"))
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(archive.data)
    archive.close()
    report = verify_bundle(bundle)
    assert report.ok, report.render()

    # The ledger's balances, the vouchers' states and the figures agree to the cent.
    shown = figures(world)
    balances = report.balances
    assert sum(balances.values()) == 0
    outstanding = accounts.program_outstanding(world.program_id)
    available = accounts.program_available(world.program_id)
    assert balances[outstanding] == shown["outstanding_cents"]
    assert balances[available] == shown["available_cents"]
    assert shown["outstanding_cents"] == (
        shown["issued_cents"]
        - shown["redeemed_cents"]
        - shown["expired_cents"]
        - shown["cancelled_cents"]
    )
    assert shown["available_cents"] == (
        shown["budget_cents"]
        - shown["issued_cents"]
        + shown["expired_cents"]
        + shown["cancelled_cents"]
    )
    with services.database.read() as session:
        states = Counter(
            dict(
                session.execute(
                    select(Voucher.status, func.sum(Voucher.value_cents)).group_by(Voucher.status)
                ).all()
            )
        )
    assert states["redeemed"] == shown["redeemed_cents"]
    assert states["expired"] == shown["expired_cents"] > 0
    assert states["cancelled"] == shown["cancelled_cents"] == 3 * FACE
    assert states["issued"] == shown["outstanding_cents"]

    # Settled: every statement not rejected; paid: those confirmed. The rest is payable.
    settled = paid = 0
    for settlement in settlements:
        shown_settlement = world.client.get(
            f"/v1/settlements/{settlement['id']}", headers=world.headers("auditor")
        ).json
        for statement in shown_settlement["statements"]:
            if statement["status"] != "rejected":
                settled += statement["amount_cents"]
            if statement["status"] == "paid":
                paid += statement["amount_cents"]
    assert shown["settled_cents"] == settled > 0
    assert shown["paid_cents"] == paid > 0
    payable = sum(
        balances.get(accounts.partner_payable(p), 0)
        for p in (world.partner_id, world.other_partner_id)
    )
    assert payable == shown["redeemed_cents"] - settled

    # The funders' report sums to the figures; the closing statement says the same.
    monthly = world.client.get(
        f"/v1/reports/programs/{world.program_id}", headers=world.headers("auditor")
    )
    assert monthly.status_code == 200, monthly.json
    closing = world.client.get(
        f"/v1/programs/{world.program_id}/closing-statement", headers=world.headers("auditor")
    )
    assert closing.status_code == 200, closing.json
    assert report_totals(monthly.json) == {
        "issued": shown["issued_cents"],
        "expired": shown["expired_cents"],
        "cancelled": shown["cancelled_cents"],
        "settled": settled,
        "paid": paid,
        "redeemed_net": shown["redeemed_cents"],
    }
    assert closing_figures(closing.json) == {
        "allocated": shown["budget_cents"],
        "issued": shown["issued_cents"],
        "redeemed": shown["redeemed_cents"],
        "settled": settled,
        "paid": paid,
        "expired": shown["expired_cents"],
        "cancelled": shown["cancelled_cents"],
    }


def report_totals(report: dict[str, Any]) -> dict[str, int]:
    """The report's whole-range totals, checked against the sum of its months."""
    totals = report["totals"]
    for name, value in totals.items():
        assert sum(month["totals"][name] for month in report["months"]) == value, name
    return {
        "issued": totals["issued_cents"],
        "expired": totals["expired_cents"],
        "cancelled": totals["cancelled_cents"],
        "settled": totals["settled_cents"] - totals["rejected_cents"],
        "paid": totals["paid_cents"],
        "redeemed_net": totals["redeemed_cents"] - totals["reversed_cents"],
    }


def closing_figures(closing: dict[str, Any]) -> dict[str, int]:
    names = ("allocated", "issued", "redeemed", "settled", "paid", "expired", "cancelled")
    return {name: closing[name] for name in names}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_settlement_expiry_and_cancellation_run_among_redemptions_and_lose_nothing(
    app: Flask, year_world: World, clock: Clock, tmp_path: Path
) -> None:
    world = year_world
    services = app.extensions["voucher_service"]
    issued_first = clock.current
    to_expire = [world.issue(f"early-{n}", size=10).json for n in range(4)]
    clock.advance(days=95)
    others = [world.issue(f"case-{n}", size=10).json for n in range(8)]
    booklets = others[:4] + to_expire + others[4:]
    # This month's redemptions, to settle next month.
    for booklet in booklets[:4]:
        for voucher in booklet["vouchers"][:5]:
            assert world.redeem(token=voucher["token"]).status_code == 201
    period = month_of(clock.current)
    _, period_end = month_bounds(period)
    # Next month, once the early booklets' vouchers (valid 120 days) have expired.
    clock.current = max(issued_first + timedelta(days=121), period_end + timedelta(hours=12))
    racing = [v["token"] for b in booklets[4:] for v in b["vouchers"]] + [
        v["token"] for b in booklets[:4] for v in b["vouchers"][5:]
    ]
    answers: list[int] = []
    errors: list[BaseException] = []

    def redeem_all(tokens: list[str]) -> None:
        try:
            client = app.test_client()
            for token in tokens:
                answer = client.post(
                    "/v1/redemptions",
                    json={"token": token},
                    headers=world.headers("partner", uuid.uuid4().hex),
                )
                answers.append(answer.status_code)
        except BaseException as error:  # reported below
            errors.append(error)

    def run(work: Any) -> None:
        try:
            work()
        except BaseException as error:  # reported below
            errors.append(error)

    writers = [
        lambda: settle(world, month_text(period)),
        lambda: expire_vouchers(services.database, clock.current),
        lambda: app.test_client().post(
            f"/v1/booklets/{booklets[9]['id']}/cancellation",
            json={"reason": "lost"},
            headers=world.headers("issuer"),
        ),
    ]
    threads = [threading.Thread(target=redeem_all, args=(racing[i::3],)) for i in range(3)]
    threads += [threading.Thread(target=run, args=(work,)) for work in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert set(answers) <= {201, 409, 410}

    integrate_all(services.database, services.context)
    archive = world.client.get("/v1/audit/bundle", headers=world.headers("auditor"))
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(archive.data)
    archive.close()
    report = verify_bundle(bundle)
    assert report.ok, report.render()
    shown = figures(world)
    with services.database.read() as session:
        states = Counter(
            dict(
                session.execute(
                    select(Voucher.status, func.sum(Voucher.value_cents)).group_by(Voucher.status)
                ).all()
            )
        )
    assert states["redeemed"] == shown["redeemed_cents"]
    assert states["expired"] == shown["expired_cents"] == 40 * FACE
    assert states["cancelled"] == shown["cancelled_cents"]
    assert states["issued"] == shown["outstanding_cents"]
    assert answers.count(201) * FACE + 20 * FACE == shown["redeemed_cents"]
    assert shown["settled_cents"] == 20 * FACE
