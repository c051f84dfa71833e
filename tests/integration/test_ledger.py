"""The ledger through the auditor's API: balanced transfers, the log, proofs and balances."""

from __future__ import annotations

import base64
import csv
import io
import json
import time
from collections import Counter
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.conftest import World
from voucher_service.context import ServiceContext
from voucher_service.jobs import BackgroundJobs, periodic_jobs
from voucher_service.ledger import merkle
from voucher_service.ledger.note import open_note, parse_checkpoint, parse_verifier_key
from voucher_service.ledger.sequencer import integrate_all


def integrate(app: Flask) -> int:
    services = app.extensions["voucher_service"]
    return integrate_all(services.database, services.context).size


def activity(world: World) -> dict[str, Any]:
    """Issue two booklets, redeem three vouchers, reverse one."""
    vouchers = world.issue("a").json["vouchers"] + world.issue("b", size=2).json["vouchers"]
    redeemed = [world.redeem(token=v["token"]).json for v in vouchers[:3]]
    world.reverse(redeemed[0]["id"], "mistake")
    return {"vouchers": vouchers, "redeemed": redeemed}


def all_entries(world: World) -> list[dict[str, Any]]:
    items, start = [], 0
    while start is not None:
        page = world.client.get(
            f"/v1/ledger/entries?start={start}&limit=3", headers=world.headers("auditor")
        ).json
        items += page["items"]
        start = page["next"]
    return items


def test_every_change_of_money_writes_one_balanced_transfer(app: Flask, world: World) -> None:
    activity(world)
    integrate(app)
    entries = all_entries(world)
    kinds = Counter(item["entry"]["kind"] for item in entries)
    assert kinds == {"allocate": 1, "issue": 2, "redeem": 3, "reverse": 1}
    for item in entries:
        for posting in item["entry"]["postings"]:
            assert posting["amount"] > 0
            assert posting["source"] != posting["destination"]
        canonical = json.dumps(item["entry"], sort_keys=True, separators=(",", ":"),
                               ensure_ascii=False).encode()  # fmt: skip
        assert base64.b64decode(item["leaf_hash"]) == merkle.leaf_hash(canonical)
    assert [item["index"] for item in entries] == list(range(len(entries)))


def test_balances_equal_the_replay_of_the_postings(app: Flask, world: World) -> None:
    activity(world)
    size = integrate(app)
    answer = world.client.get("/v1/ledger/balances", headers=world.headers("auditor")).json
    assert answer["size"] == size
    replay: Counter[str] = Counter()
    for item in all_entries(world):
        for posting in item["entry"]["postings"]:
            replay[posting["source"]] -= posting["amount"]
            replay[posting["destination"]] += posting["amount"]
    assert answer["balances"] == dict(replay)
    program = world.program_id
    assert answer["balances"][f"program:{program}:outstanding"] == 12_000 - 2000
    assert answer["balances"][f"partner:{world.partner_id}:payable"] == 2000
    assert sum(answer["balances"].values()) == 0
    earlier = world.client.get("/v1/ledger/balances?size=1", headers=world.headers("auditor")).json
    assert earlier["balances"][f"program:{program}:available"] == 100_000


def test_the_checkpoint_is_a_signed_note_over_the_root_of_the_entries(
    app: Flask, world: World
) -> None:
    empty = world.client.get("/v1/ledger/checkpoint")
    assert empty.mimetype == "text/plain"
    key = parse_verifier_key(world.client.get("/v1/ledger/checkpoint/key").text.strip())
    assert parse_checkpoint(open_note(empty.text, key)).size == 0
    activity(world)
    size = integrate(app)
    checkpoint = parse_checkpoint(open_note(world.client.get("/v1/ledger/checkpoint").text, key))
    assert checkpoint.size == size
    assert checkpoint.origin == "pass.example.fr/ledger"
    leaves = [base64.b64decode(item["leaf_hash"]) for item in all_entries(world)]
    assert checkpoint.root_hash == merkle.root(leaves)


def test_inclusion_and_consistency_proofs_verify(app: Flask, world: World) -> None:
    world.issue("a")
    first_size = integrate(app)
    first = parse_checkpoint(world.client.get("/v1/ledger/checkpoint").text.split("\n\n")[0] + "\n")
    activity(world)
    size = integrate(app)
    latest_text = world.client.get("/v1/ledger/checkpoint").text.split("\n\n")[0] + "\n"
    latest = parse_checkpoint(latest_text)
    auditor = world.headers("auditor")
    for item in all_entries(world):
        proof = world.client.get(
            f"/v1/ledger/proof/inclusion?index={item['index']}&size={size}", headers=auditor
        ).json["proof"]
        assert merkle.verify_inclusion(
            item["index"], size, base64.b64decode(item["leaf_hash"]),
            [base64.b64decode(p) for p in proof], latest.root_hash,
        )  # fmt: skip
    proof = world.client.get(
        f"/v1/ledger/proof/consistency?first={first_size}&second={size}", headers=auditor
    ).json["proof"]
    assert merkle.verify_consistency(
        first_size, size, first.root_hash, latest.root_hash, [base64.b64decode(p) for p in proof]
    )


@pytest.mark.parametrize(
    "query",
    [
        "proof/inclusion?index=5&size=3",
        "proof/inclusion?index=0&size=999",
        "proof/inclusion",
        "proof/inclusion?index=-1",
        "proof/consistency?first=3&second=2",
        "proof/consistency?first=1",
        "balances?size=999",
        "entries?kind=gift",
        "entries?limit=0",
        "entries?from=yesterday",
        "entries?to=2026-01-01T00:00:00",
    ],
)
def test_impossible_proofs_and_queries_are_invalid_requests(
    app: Flask, world: World, query: str
) -> None:
    integrate(app)
    response = world.client.get(f"/v1/ledger/{query}", headers=world.headers("auditor"))
    assert response.status_code == 400


def test_a_partner_proves_its_redemption_is_in_the_log(app: Flask, world: World) -> None:
    voucher = world.issue().json["vouchers"][0]
    redeemed = world.redeem(token=voucher["token"]).json
    entry_path = f"/v1/ledger/entries/{redeemed['ledger_entry']['id']}"
    pending = world.client.get(entry_path, headers=world.headers("partner")).json
    assert pending["integrated"] is False
    assert pending["leaf_hash"] == redeemed["ledger_entry"]["leaf_hash"]
    integrate(app)
    answer = world.client.get(entry_path, headers=world.headers("partner")).json
    assert answer["integrated"] is True
    key = parse_verifier_key(world.client.get("/v1/ledger/checkpoint/key").text.strip())
    checkpoint = parse_checkpoint(open_note(answer["checkpoint"]["note"], key))
    assert merkle.verify_inclusion(
        answer["index"], checkpoint.size, base64.b64decode(redeemed["ledger_entry"]["leaf_hash"]),
        [base64.b64decode(p) for p in answer["proof"]], checkpoint.root_hash,
    )  # fmt: skip
    assert answer["entry"]["partner_id"] == world.partner_id
    hidden = world.client.get(entry_path, headers=world.headers("other_partner"))
    assert hidden.status_code == 404


def test_entries_filter_by_programme_partner_kind_and_period(app: Flask, world: World) -> None:
    activity(world)
    integrate(app)
    auditor = world.headers("auditor")

    def kinds(query: str) -> list[str]:
        page = world.client.get(f"/v1/ledger/entries?{query}", headers=auditor).json
        return [item["entry"]["kind"] for item in page["items"]]

    assert kinds(f"partner_id={world.partner_id}") == ["redeem"] * 3 + ["reverse"]
    assert kinds("kind=issue") == ["issue", "issue"]
    assert len(kinds(f"program_id={world.program_id}")) == 7
    assert kinds("from=2100-01-01T00:00:00Z") == []
    assert kinds("to=2000-01-01T00:00:00Z") == []


def test_the_csv_export_has_one_line_a_posting(app: Flask, world: World) -> None:
    activity(world)
    integrate(app)
    response = world.client.get("/v1/ledger/export.csv", headers=world.headers("auditor"))
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 7
    assert {row["kind"] for row in rows} == {"allocate", "issue", "redeem", "reverse"}
    assert sum(int(row["amount_cents"]) for row in rows if row["kind"] == "redeem") == 3000


def test_the_background_sequencer_integrates_within_the_merge_delay(
    app: Flask, world: World, ctx: ServiceContext
) -> None:
    from dataclasses import replace

    services = app.extensions["voucher_service"]
    fast = ServiceContext(replace(ctx.settings, merge_delay_seconds=0.8), ctx.keys, ctx.limiter)
    sequencer = BackgroundJobs(periodic_jobs(services.database, fast))
    world.issue()
    sequencer.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if world.client.get("/v1/ledger/checkpoint").text.split("\n")[1] == "2":
                break
            time.sleep(0.1)
    finally:
        sequencer.stop()
    assert world.client.get("/v1/ledger/checkpoint").text.split("\n")[1] == "2"


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_transfers SET kind = 'gift'",
        "DELETE FROM ledger_postings",
        "UPDATE ledger_postings SET amount = amount + 1",
        "DELETE FROM ledger_leaves",
        "UPDATE ledger_nodes SET hash = hash",
        "DELETE FROM ledger_checkpoints",
        "TRUNCATE ledger_transfers CASCADE",
        "TRUNCATE ledger_balance_snapshots",
    ],
)
def test_postgresql_refuses_to_change_the_ledger(
    app: Flask, world: World, database_url: str, statement: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the insert-only trigger is PostgreSQL's")
    world.issue()
    integrate(app)
    database = app.extensions["voucher_service"].database
    with pytest.raises(DBAPIError, match="insert-only"), database.atomic() as session:
        session.execute(text(statement))


def test_balances_from_snapshots_equal_the_full_replay_at_every_size(
    app: Flask, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import func, select

    from voucher_service.ledger import balances as balances_module
    from voucher_service.ledger.models import LedgerBalanceSnapshot

    monkeypatch.setattr(balances_module, "SNAPSHOT_EVERY", 3)
    activity(world)
    size = integrate(app)
    database = app.extensions["voucher_service"].database
    with database.read() as session:
        snapshots = sorted(session.scalars(select(LedgerBalanceSnapshot.size).distinct()).all())
        assert snapshots == list(range(3, size + 1, 3))
        for upto in range(size + 1):
            expected = balances_module.replay(session, 0, upto)
            assert balances_module.balances(session, upto) == dict(sorted(expected.items()))
        assert session.scalar(select(func.count()).select_from(LedgerBalanceSnapshot)) > 0
