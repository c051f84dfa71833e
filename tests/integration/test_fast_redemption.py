"""PostgreSQL's one-statement redemption writes exactly what the general path writes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import World
from voucher_service.clock import now
from voucher_service.idempotency.api import Idempotency
from voucher_service.idempotency.models import IdempotencyRecord
from voucher_service.ledger.models import LedgerPosting, LedgerTransfer, LogQueue
from voucher_service.vouchers.fast_redemption import redeem_token
from voucher_service.vouchers.models import Redemption, Voucher


@pytest.fixture
def services(world: World, database_url: str) -> Any:
    if not database_url.startswith("postgresql"):
        pytest.skip("the one-statement redemption is PostgreSQL's")
    return world.client.application.extensions["voucher_service"]


def partner(services: Any, world: World) -> Any:
    from voucher_service.auth.api import find_principal

    with services.database.read() as session:
        return find_principal(session, world.keys["partner"])


def rows(services: Any, model: type) -> int:
    with services.database.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_one_statement_redeems_and_writes_every_row(services: Any, world: World) -> None:
    voucher = world.issue().json["vouchers"][0]
    principal = partner(services, world)
    idem = Idempotency(principal.id, "fast-1", "f" * 64)
    outcome = redeem_token(
        services.database,
        services.program_ids,
        services.context,
        principal,
        voucher["token"],
        "atelier",
        idem,
        now(),
    )
    assert outcome is not None
    assert outcome.status == 201
    assert not outcome.replayed
    body = json.loads(outcome.body)
    with services.database.read() as session:
        assert session.get(Voucher, voucher["id"]).status == "redeemed"  # type: ignore[union-attr]
        redemption = session.get(Redemption, body["id"])
        transfer = session.get(LedgerTransfer, body["ledger_entry"]["id"])
        record = session.get(IdempotencyRecord, (principal.id, "fast-1"))
    assert redemption is not None
    assert redemption.service == "atelier"
    assert transfer is not None
    assert json.loads(transfer.entry)["voucher_ids"] == [voucher["id"]]
    assert record is not None
    assert record.body == outcome.body
    assert rows(services, LogQueue) == 3  # allocate, issue, redeem
    assert rows(services, LedgerPosting) == 3


def test_a_voucher_it_cannot_redeem_writes_nothing_and_defers(services: Any, world: World) -> None:
    voucher = world.issue().json["vouchers"][0]
    world.redeem(token=voucher["token"])
    principal = partner(services, world)
    before = [rows(services, model) for model in (Redemption, LedgerTransfer, IdempotencyRecord)]
    idem = Idempotency(principal.id, "fast-2", "f" * 64)
    deferred = redeem_token(
        services.database,
        services.program_ids,
        services.context,
        principal,
        voucher["token"],
        None,
        idem,
        now(),
    )
    assert deferred is None
    after = [rows(services, model) for model in (Redemption, LedgerTransfer, IdempotencyRecord)]
    assert after == before


def test_a_used_key_on_a_redeemable_voucher_writes_nothing_and_defers(
    services: Any, world: World
) -> None:
    vouchers = world.issue().json["vouchers"]
    world.redeem(key="used", token=vouchers[0]["token"])
    principal = partner(services, world)
    idem = Idempotency(principal.id, "used", "0" * 64)
    deferred = redeem_token(
        services.database,
        services.program_ids,
        services.context,
        principal,
        vouchers[1]["token"],
        None,
        idem,
        now(),
    )
    assert deferred is None
    with services.database.read() as session:
        assert session.get(Voucher, vouchers[1]["id"]).status == "issued"  # type: ignore[union-attr]
