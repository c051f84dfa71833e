"""A programme's figures gain `settled_cents` and `paid_cents`: read from the totals of its
in_payment account (settle in, reject back out, pay out), the same whether the settlements'
entries are still queued or integrated, and the identities of CONTRACT §5 still hold."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Flask

from tests.conftest import PROGRAM, World
from voucher_service.clock import now
from voucher_service.ledger import accounts, kinds
from voucher_service.ledger.balances import balance, current_totals
from voucher_service.ledger.sequencer import integrate_all, integrate_batch
from voucher_service.ledger.writes import write_transfer
from voucher_service.schemas import validate


def services(app: Flask) -> Any:
    return app.extensions["voucher_service"]


def figures(world: World, program_id: str | None = None) -> dict[str, int]:
    answer = world.client.get(
        f"/v1/programs/{program_id or world.program_id}", headers=world.headers("auditor")
    )
    assert answer.status_code == 200, answer.json
    validate("program", answer.json)
    found: dict[str, int] = answer.json["figures"]
    return found


def write(app: Flask, *transfers: Any) -> None:
    """Settlement entries, as the settlement use case writes them: in one transaction."""
    with services(app).database.atomic() as session:
        for transfer in transfers:
            write_transfer(session, transfer)


def redeem(world: World, count: int) -> None:
    for voucher in world.issue(uuid.uuid4().hex, size=count).json["vouchers"]:
        assert world.redeem(token=voucher["token"]).status_code == 201


def test_a_new_programme_has_settled_and_paid_nothing(world: World) -> None:
    found = figures(world)
    assert found["settled_cents"] == 0
    assert found["paid_cents"] == 0


def test_settled_and_paid_follow_settle_pay_and_reject(app: Flask, world: World) -> None:
    redeem(world, 5)  # the partner is owed 5,000
    program, partner = world.program_id, world.partner_id
    first, second, third = (str(uuid.uuid4()) for _ in range(3))
    write(
        app,
        kinds.settle(now(), program, partner, first, 2000),
        kinds.settle(now(), program, partner, second, 3000),
    )
    assert (figures(world)["settled_cents"], figures(world)["paid_cents"]) == (5000, 0)
    write(app, kinds.pay(now(), program, partner, first, 2000))
    write(app, kinds.reject(now(), program, partner, second, 3000))  # payable again
    queued = figures(world)
    assert (queued["settled_cents"], queued["paid_cents"]) == (2000, 2000)
    write(app, kinds.settle(now(), program, partner, third, 3000))  # in the next settlement
    queued = figures(world)
    assert (queued["settled_cents"], queued["paid_cents"]) == (5000, 2000)
    assert queued["redeemed_cents"] == 5000
    svc = services(app)
    with svc.database.atomic() as session:  # the sequencer, part of the way
        integrate_batch(session, svc.context, batch=5)
    assert figures(world) == queued
    integrate_all(svc.database, svc.context)
    assert figures(world) == queued
    # What is in payment now is the account's balance: settled, not yet paid.
    with svc.database.read() as session:
        in_payment = accounts.program_in_payment(program)
        totals = current_totals(session, [in_payment])
    assert balance(totals, in_payment) == queued["settled_cents"] - queued["paid_cents"]


def test_the_contract_identities_still_hold(app: Flask, world: World) -> None:
    redeem(world, 4)
    vouchers = world.issue("other", size=3).json["vouchers"]
    with services(app).database.atomic() as session:
        write_transfer(session, kinds.cancel(now(), world.program_id, [vouchers[0]["id"]], 1000))
        write_transfer(session, kinds.expire(now(), world.program_id, [vouchers[1]["id"]], 1000))
        write_transfer(
            session,
            kinds.settle(now(), world.program_id, world.partner_id, str(uuid.uuid4()), 4000),
        )
    for _ in range(2):  # queued, then integrated
        found = figures(world)
        assert found["outstanding_cents"] == (
            found["issued_cents"]
            - found["redeemed_cents"]
            - found["expired_cents"]
            - found["cancelled_cents"]
        )
        assert found["available_cents"] == (
            found["budget_cents"]
            - found["issued_cents"]
            + found["expired_cents"]
            + found["cancelled_cents"]
        )
        assert 0 <= found["paid_cents"] <= found["settled_cents"] <= found["redeemed_cents"]
        assert (found["settled_cents"], found["outstanding_cents"]) == (4000, 1000)
        integrate_all(services(app).database, services(app).context)


def test_another_programmes_settlements_are_not_counted(app: Flask, world: World) -> None:
    admin = world.headers("admin")
    other = world.client.post("/v1/programs", json={**PROGRAM, "code": "HV88"}, headers=admin)
    assert other.status_code == 201, other.json
    other_id = other.json["id"]
    redeem(world, 2)
    write(
        app,
        kinds.settle(now(), other_id, world.partner_id, str(uuid.uuid4()), 700),
        kinds.pay(now(), other_id, world.partner_id, str(uuid.uuid4()), 300),
        kinds.settle(now(), world.program_id, world.partner_id, str(uuid.uuid4()), 2000),
    )
    mine, theirs = figures(world), figures(world, other_id)
    assert (mine["settled_cents"], mine["paid_cents"]) == (2000, 0)
    assert (theirs["settled_cents"], theirs["paid_cents"]) == (700, 300)
    listed = world.client.get("/v1/programs", headers=world.headers("admin")).json["items"]
    validate("program-page", {"items": listed, "next_cursor": None})
    assert {p["id"]: p["figures"]["settled_cents"] for p in listed} == {
        world.program_id: 2000,
        other_id: 700,
    }
