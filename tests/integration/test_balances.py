"""Balances of now: the sequencer's totals plus the queue, whatever part is integrated, equal
the replay of the whole log; the programme's figures and budget check are read from them."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import update

from tests.conftest import World
from voucher_service.ledger import accounts, balances
from voucher_service.ledger.sequencer import integrate_all, integrate_batch, log_size
from voucher_service.vouchers.models import Voucher


def services(app: Flask) -> Any:
    return app.extensions["voucher_service"]


def activity(world: World) -> None:
    vouchers = world.issue("a").json["vouchers"] + world.issue("b", size=3).json["vouchers"]
    redeemed = [world.redeem(token=v["token"]).json for v in vouchers[:4]]
    world.reverse(redeemed[0]["id"], "mistake")


def figures(world: World) -> dict[str, int]:
    answer = world.client.get(f"/v1/programs/{world.program_id}", headers=world.headers("admin"))
    assert answer.status_code == 200, answer.json
    found: dict[str, int] = answer.json["figures"]
    return found


EXPECTED = {
    "budget_cents": 100_000,
    "issued_cents": 13_000,
    "redeemed_cents": 3_000,
    "expired_cents": 0,
    "cancelled_cents": 0,
    "outstanding_cents": 10_000,
    "available_cents": 87_000,
    "settled_cents": 0,
    "paid_cents": 0,
}


def test_figures_are_the_same_whether_entries_are_queued_or_integrated(
    app: Flask, world: World
) -> None:
    activity(world)
    assert figures(world) == EXPECTED  # everything still queued
    svc = services(app)
    with svc.database.atomic() as session:  # the sequencer, part of the way
        integrate_batch(session, svc.context, batch=3)
    assert figures(world) == EXPECTED
    integrate_all(svc.database, svc.context)
    assert figures(world) == EXPECTED


def test_totals_of_now_equal_the_replay_of_the_whole_log(app: Flask, world: World) -> None:
    svc = services(app)
    activity(world)
    with svc.database.atomic() as session:
        integrate_batch(session, svc.context, batch=4)
    activity_more = world.issue("c", size=2).json["vouchers"]
    world.redeem(token=activity_more[0]["token"])
    integrate_all(svc.database, svc.context)
    with svc.database.read() as session:
        size = log_size(session)
        replayed = balances.balances(session, size)
        totals = balances.current_totals(session, replayed)
    assert {account: balances.balance(totals, account) for account in replayed} == replayed


def test_figures_are_read_from_the_ledger_not_from_the_vouchers(app: Flask, world: World) -> None:
    activity(world)
    with services(app).database.atomic() as session:  # a row changed behind the ledger's back
        session.execute(update(Voucher).values(value_cents=1))
    assert figures(world) == EXPECTED


def test_the_budget_check_reads_the_available_balance(app: Flask, world: World) -> None:
    svc = services(app)
    for number in range(8):
        assert world.issue(f"person-{number}").status_code == 201
    integrate_all(svc.database, svc.context)
    assert world.issue("person-8").status_code == 201  # 90,000 of 100,000 issued
    refused = world.issue("person-9", size=10)
    assert refused.status_code == 201  # exactly the last 10,000
    exhausted = world.issue("person-10", size=1)
    assert exhausted.status_code == 409
    assert exhausted.json["available_cents"] == 0
    with svc.database.read() as session:
        account = accounts.program_available(world.program_id)
        assert balances.balance(balances.current_totals(session, [account]), account) == 0
