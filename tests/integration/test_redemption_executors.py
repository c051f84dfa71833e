"""One redemption rule, two executors: a transaction (both databases) and PostgreSQL's one
statement write exactly the same rows, and refuse or defer exactly alike."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from tests.conftest import World
from voucher_service.auth.api import Principal
from voucher_service.clock import now
from voucher_service.db import Database
from voucher_service.idempotency.api import Idempotency, Outcome
from voucher_service.models import Base
from voucher_service.vouchers.claimable import identify
from voucher_service.vouchers.redemption import redeem_in_one_statement, redeem_in_transaction

Rows = dict[str, list[dict[str, Any]]]


@pytest.fixture(params=["transaction", "statement"])
def executor(request: pytest.FixtureRequest, database_url: str) -> str:
    if request.param == "statement" and not database_url.startswith("postgresql"):
        pytest.skip("the one-statement executor is PostgreSQL's")
    name: str = request.param
    return name


def services(world: World) -> Any:
    app: Flask = world.client.application  # type: ignore[assignment]
    return app.extensions["voucher_service"]


def partner(world: World) -> Principal:
    principal = services(world).principals.get(world.keys["partner"])
    if principal is None:
        world.client.get("/v1/redemptions", headers=world.headers("partner"))  # caches it
        principal = services(world).principals.get(world.keys["partner"])
    assert principal is not None
    return principal


def run(world: World, executor: str, token: str, key: str) -> Outcome | None:
    svc, principal, moment = services(world), partner(world), now()
    ref = identify(svc.context, token, None)
    idem = Idempotency(principal.id, key, "f" * 64)
    chosen: Callable[..., Outcome | None] = (
        redeem_in_transaction if executor == "transaction" else redeem_in_one_statement
    )
    return chosen(svc.database, svc.context, principal, ref, "atelier", idem, moment)


def dump(database: Database) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    """Every row of every table, by primary key."""
    tables: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
    with database.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            keys = [column.name for column in table.primary_key.columns]
            tables[table.name] = {
                tuple(row[k] for k in keys): dict(row)
                for row in connection.execute(table.select()).mappings()
            }
    return tables


def written(database: Database, action: Callable[[], object]) -> Rows:
    """The rows the action inserted or changed, table by table."""
    before = dump(database)
    action()
    after = dump(database)
    return {
        name: [row for key, row in rows.items() if before[name].get(key) != row]
        for name, rows in after.items()
        if any(before[name].get(key) != row for key, row in rows.items())
    }


def normalised(rows: Rows, names: dict[str, str]) -> Rows:
    """The rows with this redemption's own identities replaced by their roles, so that two
    redemptions of two vouchers compare equal when they wrote the same things."""

    def plain(value: Any) -> Any:
        if isinstance(value, bytes):
            value = base64.b64encode(value).decode()
        if isinstance(value, str):
            if value in names:
                return names[value]
            if value.startswith("{"):
                return plain(json.loads(value))
            if value.count(".") == 2 and value.startswith("ey"):  # a JWS: its claims
                payload = value.split(".")[1]
                return plain(json.loads(base64.urlsafe_b64decode(payload + "==")))
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        if isinstance(value, list):
            return [plain(item) for item in value]
        return value

    return {
        # A voucher's place in its status list is drawn at random: its role is compared.
        table: [
            {
                k: "STATUS_INDEX" if k == "status_index" else plain(v)
                for k, v in row.items()
                if k != "seq"
            }
            for row in found
        ]
        for table, found in rows.items()
    }


def identities(world: World, outcome: Outcome, voucher: dict[str, Any]) -> dict[str, str]:
    body = json.loads(outcome.body)
    row = dump(services(world).database)["vouchers"][(voucher["id"],)]
    return {
        body["id"]: "REDEMPTION",
        body["voucher_id"]: "VOUCHER",
        row["jti"]: "JTI",
        row["code_hash"]: "CODE",
        row["booklet_id"]: "BOOKLET",
        body["ledger_entry"]["id"]: "TRANSFER",
        body["ledger_entry"]["leaf_hash"]: "LEAF",
        "key-1": "KEY",
        "key-2": "KEY",
    }


def test_each_executor_writes_every_row_of_a_redemption(world: World, executor: str) -> None:
    voucher = world.issue().json["vouchers"][0]
    outcomes: list[Outcome | None] = []
    rows = written(
        services(world).database,
        lambda: outcomes.append(run(world, executor, voucher["token"], "key-1")),
    )
    outcome = outcomes[0]
    assert outcome is not None
    assert outcome.status == 201
    assert not outcome.replayed
    body = json.loads(outcome.body)
    assert sorted(rows) == [
        "idempotency_records",
        "ledger_postings",
        "ledger_transfers",
        "log_queue",
        "redemptions",
        "vouchers",
    ]
    assert all(len(found) == 1 for found in rows.values())
    assert rows["vouchers"][0]["status"] == "redeemed"
    assert rows["redemptions"][0]["id"] == body["id"]
    assert rows["redemptions"][0]["service"] == "atelier"
    assert rows["idempotency_records"][0]["status_code"] == 201
    kept = rows["idempotency_records"][0]["body"]
    idem = Idempotency(partner(world).id, "key-1", "f" * 64)
    assert services(world).context.answers.open(kept, idem) == outcome.body != kept
    assert rows["ledger_postings"][0]["amount"] == voucher["value_cents"]
    assert rows["log_queue"][0]["transfer_id"] == body["ledger_entry"]["id"]


def test_both_executors_write_the_same_rows(world: World, database_url: str, clock: Any) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the one-statement executor is PostgreSQL's")
    # Two booklets of one voucher each: the same place in a booklet, written the same way.
    first = world.issue("case-1", size=1).json["vouchers"][0]
    second = world.issue("case-2", size=1).json["vouchers"][0]
    seen: list[Rows] = []
    for executor, voucher, key in (
        ("transaction", first, "key-1"),
        ("statement", second, "key-2"),
    ):
        outcomes: list[Outcome | None] = []

        def redeem(e: str = executor, v: dict[str, Any] = voucher, k: str = key) -> None:
            outcomes.append(run(world, e, v["token"], k))  # noqa: B023 (called at once)

        rows = written(services(world).database, redeem)
        outcome = outcomes[0]
        assert outcome is not None
        record = rows["idempotency_records"][0]  # sealed under a fresh nonce: compare it open
        idem = Idempotency(partner(world).id, key, "f" * 64)
        record["body"] = services(world).context.answers.open(record["body"], idem)
        seen.append(normalised(rows, identities(world, outcome, voucher)))
    assert seen[0] == seen[1]
    assert seen[0]["vouchers"][0]["id"] == "VOUCHER"


def test_a_voucher_the_rule_refuses_is_deferred_by_one_statement_and_refused_by_the_other(
    world: World, executor: str
) -> None:
    voucher = world.issue().json["vouchers"][0]
    assert world.redeem(token=voucher["token"]).status_code == 201
    database = services(world).database
    if executor == "statement":
        rows = written(database, lambda: run(world, executor, voucher["token"], "key-1"))
        assert rows == {}
        assert run(world, executor, voucher["token"], "key-1") is None
    else:
        from voucher_service.errors import VoucherAlreadyRedeemed

        before = dump(database)
        with pytest.raises(VoucherAlreadyRedeemed):
            run(world, executor, voucher["token"], "key-1")
        assert dump(database) == before


def test_a_used_key_on_a_redeemable_voucher_is_deferred_by_one_statement(
    world: World, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the one-statement executor is PostgreSQL's")
    vouchers = world.issue().json["vouchers"]
    assert run(world, "statement", vouchers[0]["token"], "used") is not None
    rows = written(
        services(world).database, lambda: run(world, "statement", vouchers[1]["token"], "used")
    )
    assert rows == {}
