"""Expiry: vouchers past their expiry leave circulation and their value goes back, once, in
ledger entries by programme and organisation, whether by `voucher-service expire`, the
worker's daily job or a direct call, and whatever redemptions race it; the list of vouchers
expiring soon; and the closing statement, whose figures add up and agree with the ledger."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import func, select

from tests.conftest import PROGRAM, Clock, World
from tests.unit.test_printing import page_count, text_of
from voucher_service.cli import main
from voucher_service.jobs import periodic_jobs
from voucher_service.ledger.models import LedgerTransfer
from voucher_service.ledger.sequencer import integrate_all
from voucher_service.ledger.verify import verify_bundle
from voucher_service.vouchers.expiry import CHUNK, Expiry, expire_vouchers
from voucher_service.vouchers.models import Voucher

FACE = 1000


def slug(response: Any) -> str:
    return str(response.json["type"]).rpartition("/")[2]


def database_of(world: World) -> Any:
    return world.client.application.extensions["voucher_service"].database


def figures(world: World) -> dict[str, int]:
    answer = world.client.get(f"/v1/programs/{world.program_id}", headers=world.headers("admin"))
    found: dict[str, int] = answer.json["figures"]
    return found


def entries(world: World, kind: str) -> list[dict[str, Any]]:
    with database_of(world).read() as session:
        found = session.scalars(
            select(LedgerTransfer.entry).where(LedgerTransfer.kind == kind)
        ).all()
    return [json.loads(entry) for entry in found]


def states(world: World) -> Counter[str]:
    with database_of(world).read() as session:
        return Counter(
            dict(
                session.execute(
                    select(Voucher.status, func.sum(Voucher.value_cents)).group_by(Voucher.status)
                ).all()
            )
        )


def booklet_statuses(world: World, booklet_id: str) -> Counter[str]:
    view = world.client.get(f"/v1/booklets/{booklet_id}", headers=world.headers("admin")).json
    return Counter(voucher["status"] for voucher in view["vouchers"])


def second_organisation(world: World) -> tuple[str, dict[str, str]]:
    admin = world.headers("admin")
    organisation = world.client.post(
        "/v1/organisations",
        json={"name": "Mairie de Saint-Junien", "kind": "mairie", "programs": [world.program_id]},
        headers=admin,
    ).json
    key = world.client.post(
        "/v1/api-keys",
        json={"role": "issuer", "organisation_id": organisation["id"], "label": "Saint-Junien"},
        headers=admin,
    ).json["key"]
    return organisation["id"], {"Authorization": f"Bearer {key}"}


def issue_as(world: World, headers: dict[str, str], beneficiary: str, size: int) -> Any:
    answer = world.client.post(
        "/v1/booklets",
        json={"program_id": world.program_id, "beneficiary_ref": beneficiary, "size": size},
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert answer.status_code == 201, answer.json
    return answer.json


def agrees_with_the_ledger(world: World) -> None:
    shown, found = figures(world), states(world)
    assert found["redeemed"] == shown["redeemed_cents"]
    assert found["expired"] == shown["expired_cents"]
    assert found["cancelled"] == shown["cancelled_cents"]
    assert found["issued"] + found["printed"] == shown["outstanding_cents"]


# Expiry


def test_expiry_gives_back_what_was_not_redeemed_once(world: World, clock: Clock) -> None:
    booklet = world.issue("case-1", size=10).json
    for voucher in booklet["vouchers"][:3]:
        assert world.redeem(token=voucher["token"]).status_code == 201
    expires_at = datetime.fromisoformat(booklet["vouchers"][0]["expires_at"])
    before = figures(world)
    # Not yet: a second before its expiry, nothing moves.
    assert expire_vouchers(database_of(world), expires_at - timedelta(seconds=1)) == Expiry()
    clock.current = expires_at
    done = expire_vouchers(database_of(world), clock.current)
    assert done == Expiry(vouchers=7, cents=7 * FACE, transfers=1)
    assert booklet_statuses(world, booklet["id"]) == {"redeemed": 3, "expired": 7}
    after = figures(world)
    assert after["expired_cents"] == 7 * FACE
    assert after["available_cents"] == before["available_cents"] + 7 * FACE
    assert after["outstanding_cents"] == 0
    [entry] = entries(world, "expire")
    assert entry["organisation_id"] == world.organisation_id
    assert entry["postings"][0]["amount"] == 7 * FACE
    assert sorted(entry["voucher_ids"]) == sorted(v["id"] for v in booklet["vouchers"][3:])
    # Again: nothing more.
    assert expire_vouchers(database_of(world), clock.current + timedelta(days=1)) == Expiry()
    assert len(entries(world, "expire")) == 1
    refused = world.redeem(token=booklet["vouchers"][5]["token"])
    assert refused.status_code == 410 and slug(refused) == "voucher-expired"
    agrees_with_the_ledger(world)


def test_expiry_runs_in_chunks_with_an_entry_per_organisation_and_chunk(
    world: World, clock: Clock
) -> None:
    other_id, other = second_organisation(world)
    ours = [world.issue(f"case-{n}", size=4).json for n in range(2)]
    theirs = issue_as(world, other, "case-9", 3)
    clock.advance(days=366)
    done = expire_vouchers(database_of(world), clock.current, chunk=5)
    assert (done.vouchers, done.cents) == (11, 11 * FACE)
    found = entries(world, "expire")
    assert len(found) == done.transfers >= 3  # three chunks at least, two organisations
    by_organisation = Counter()
    for entry in found:
        by_organisation[entry["organisation_id"]] += entry["postings"][0]["amount"]
    assert by_organisation == {world.organisation_id: 8 * FACE, other_id: 3 * FACE}
    assert all(len(entry["voucher_ids"]) <= 5 for entry in found)
    for booklet in [*ours, theirs]:
        assert set(booklet_statuses(world, booklet["id"])) == {"expired"}
    agrees_with_the_ledger(world)


def test_printed_vouchers_expire_too_and_cancelled_ones_do_not(world: World, clock: Clock) -> None:
    batch = world.client.post(
        "/v1/booklet-batches",
        json={"program_id": world.program_id, "count": 1, "size": 2},
        headers=world.headers("issuer", uuid.uuid4().hex),
    ).json
    lost = world.issue("case-lost", size=3).json
    cancelled = world.client.post(
        f"/v1/booklets/{lost['id']}/cancellation",
        json={"reason": "lost"},
        headers=world.headers("issuer"),
    )
    assert cancelled.status_code == 200
    clock.advance(days=366)
    done = expire_vouchers(database_of(world), clock.current)
    assert (done.vouchers, done.cents) == (2, 2 * FACE)
    assert booklet_statuses(world, batch["booklets"][0]["id"]) == {"expired": 2}
    assert booklet_statuses(world, lost["id"]) == {"cancelled": 3}
    agrees_with_the_ledger(world)


def test_only_vouchers_past_their_own_expiry_go(world: World, clock: Clock) -> None:
    early = world.issue("case-early", size=2).json
    clock.advance(days=100)
    late = world.issue("case-late", size=2).json
    clock.advance(days=300)  # the early ones are past 365 days, the late ones are not
    assert expire_vouchers(database_of(world), clock.current).vouchers == 2
    assert booklet_statuses(world, early["id"]) == {"expired": 2}
    assert booklet_statuses(world, late["id"]) == {"issued": 2}
    assert world.redeem(token=late["vouchers"][0]["token"]).status_code == 201


def test_the_expire_command_prints_what_expired(
    world: World, clock: Clock, settings: Any, keys_dir: Path
) -> None:
    world.issue("case-1", size=4)
    clock.advance(days=366)
    env = {
        "DATABASE_URL": settings.database_url,
        "VOUCHER_SERVICE_KEYS_DIR": str(keys_dir),
        "PUBLIC_BASE_URL": "https://pass.example.fr",
    }
    answer = CliRunner().invoke(main, ["expire", "--json"], env=env, catch_exceptions=False)
    assert answer.exit_code == 0, answer.output
    printed = json.loads(answer.output)
    assert printed["vouchers"] == 4 and printed["cents"] == 4 * FACE
    assert printed["transfers"] == 1 and printed["at"].endswith("Z")
    again = CliRunner().invoke(main, ["expire"], env=env, catch_exceptions=False)
    assert again.exit_code == 0
    assert again.output.startswith("expired 0 vouchers worth 0 cents (0 ledger entries) at ")
    assert figures(world)["expired_cents"] == 4 * FACE


def test_the_worker_expires_daily(app: Flask, world: World, clock: Clock) -> None:
    services = app.extensions["voucher_service"]
    jobs = {job.name: job for job in periodic_jobs(services.database, services.context)}
    job = jobs["voucher-expiry"]
    assert job.every_seconds == 24 * 3600
    world.issue("case-1", size=3)
    job.run()
    assert figures(world)["expired_cents"] == 0
    clock.advance(days=366)
    job.run()
    assert figures(world)["expired_cents"] == 3 * FACE


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_expiry_among_redemptions_loses_and_doubles_nothing(
    app: Flask, world: World, clock: Clock, tmp_path: Path
) -> None:
    """Redemptions a second before the vouchers' expiry race an expiry run a second after:
    each voucher ends redeemed or expired, never both, and the ledger agrees."""
    booklets = [world.issue(f"case-{n}", size=10).json for n in range(4)]
    tokens = [v["token"] for b in booklets for v in b["vouchers"]]
    expires_at = datetime.fromisoformat(booklets[-1]["vouchers"][0]["expires_at"])
    clock.current = expires_at - timedelta(seconds=1)
    barrier = threading.Barrier(4)
    answers: list[int] = []
    errors: list[BaseException] = []
    done: list[Expiry] = []

    def redeem(part: list[str]) -> None:
        try:
            client = app.test_client()
            barrier.wait()
            for token in part:
                answer = client.post(
                    "/v1/redemptions",
                    json={"token": token},
                    headers=world.headers("partner", uuid.uuid4().hex),
                )
                answers.append(answer.status_code)
        except BaseException as error:  # reported below
            errors.append(error)

    def expire() -> None:
        try:
            barrier.wait()
            done.append(
                expire_vouchers(database_of(world), expires_at + timedelta(seconds=1), chunk=7)
            )
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=redeem, args=(tokens[i::3],)) for i in range(3)]
    threads.append(threading.Thread(target=expire))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert set(answers) <= {201, 409, 410}
    redeemed = answers.count(201)
    [expired] = done
    assert redeemed + expired.vouchers == 40
    assert expired.cents == expired.vouchers * FACE
    found = states(world)
    assert found["redeemed"] == redeemed * FACE
    assert found["expired"] == expired.vouchers * FACE
    assert found["issued"] == 0
    assert sum(e["postings"][0]["amount"] for e in entries(world, "expire")) == expired.cents
    agrees_with_the_ledger(world)
    services = app.extensions["voucher_service"]
    integrate_all(services.database, services.context)
    archive = world.client.get("/v1/audit/bundle", headers=world.headers("auditor"))
    path = tmp_path / "bundle.zip"
    path.write_bytes(archive.data)
    archive.close()
    report = verify_bundle(path)
    assert report.ok, report.render()


def test_the_default_chunk_is_a_few_thousand() -> None:
    assert 1_000 <= CHUNK <= 10_000


# Expiring soon


def expiring(world: World, query: str = "", role: str = "admin", **headers: str) -> Any:
    return world.client.get(
        f"/v1/programs/{world.program_id}/expiring{query}",
        headers={**world.headers(role), **headers},
    )


def test_the_vouchers_expiring_soon_by_organisation_and_booklet(world: World, clock: Clock) -> None:
    other_id, other = second_organisation(world)
    soon = world.issue("case-soon", size=4).json
    assert world.redeem(token=soon["vouchers"][0]["token"]).status_code == 201
    clock.advance(days=10)
    theirs = issue_as(world, other, "case-other", 2)
    clock.advance(days=100)
    world.issue("case-later", size=5)  # expires in 365 days: not listed
    # 360 days after the first issue: the first booklet expires in 5 days, the second in 15,
    # the third in 115.
    clock.advance(days=250)
    answer = expiring(world, "?within_days=30")
    assert answer.status_code == 200, answer.json
    listed = answer.json
    assert listed["within_days"] == 30
    assert (listed["count"], listed["value_cents"]) == (5, 5 * FACE)
    assert [o["organisation_id"] for o in listed["organisations"]] == [
        world.organisation_id,
        other_id,
    ]
    ours = listed["organisations"][0]
    assert ours["name"] == "CCAS de Limoges"
    assert (ours["count"], ours["value_cents"]) == (3, 3 * FACE)
    assert [b["booklet_id"] for b in ours["booklets"]] == [soon["id"]]
    assert ours["earliest_expires_at"] == soon["vouchers"][1]["expires_at"]
    assert listed["organisations"][1]["booklets"][0]["booklet_id"] == theirs["id"]
    # Within 7 days: only the first booklet (it expires in 5 days).
    week = expiring(world, "?within_days=7").json
    assert [o["organisation_id"] for o in week["organisations"]] == [world.organisation_id]
    # An issuer sees its own organisation's booklets only; the default is 30 days.
    mine = expiring(world, role="issuer").json
    assert mine["within_days"] == 30
    assert [o["organisation_id"] for o in mine["organisations"]] == [world.organisation_id]
    seen = world.client.get(f"/v1/programs/{world.program_id}/expiring", headers=other).json
    assert [o["organisation_id"] for o in seen["organisations"]] == [other_id]
    assert expiring(world, role="auditor").status_code == 200
    # Once expired, they are no longer listed (the third booklet is 95 days away).
    clock.advance(days=20)
    expire_vouchers(database_of(world), clock.current)
    assert expiring(world).json["count"] == 0


@pytest.mark.parametrize(
    "query", ["?within_days=0", "?within_days=367", "?within_days=abc", "?within_days=1.5",
              "?within_days=-3", "?within_days=", "?within_days=%EF%BC%93"],
)  # fmt: skip
def test_a_bad_window_is_refused(world: World, query: str) -> None:
    answer = expiring(world, query)
    assert answer.status_code == 400 and slug(answer) == "invalid-request", answer.json
    assert answer.json["errors"][0]["path"] == "within_days"


def test_who_may_list_what_expires(world: World) -> None:
    assert expiring(world, role="partner").status_code == 403
    assert world.client.get(f"/v1/programs/{world.program_id}/expiring").status_code == 401
    unknown = world.client.get(
        f"/v1/programs/{uuid.uuid4()}/expiring", headers=world.headers("admin")
    )
    assert unknown.status_code == 404
    # An issuer whose organisation does not distribute the programme: not found.
    elsewhere = world.client.post(
        "/v1/programs", json={**PROGRAM, "code": "CR23"}, headers=world.headers("admin")
    ).json["id"]
    answer = world.client.get(f"/v1/programs/{elsewhere}/expiring", headers=world.headers("issuer"))
    assert answer.status_code == 404
    assert (
        world.client.get(
            f"/v1/programs/{elsewhere}/expiring", headers=world.headers("auditor")
        ).json["count"]
        == 0
    )


# The closing statement


def closing(world: World, role: str = "auditor", suffix: str = "") -> Any:
    return world.client.get(
        f"/v1/programs/{world.program_id}/closing-statement{suffix}", headers=world.headers(role)
    )


def test_the_closing_statement_adds_up_after_issuance_redemption_cancellation_and_expiry(
    world: World, clock: Clock
) -> None:
    empty = closing(world).json
    assert empty["allocated"] == empty["unused"] == empty["available"]
    first = world.issue("case-1", size=10).json
    second = world.issue("case-2", size=5).json
    for voucher in first["vouchers"][:4]:
        assert world.redeem(token=voucher["token"]).status_code == 201
    mistaken = world.redeem(token=second["vouchers"][0]["token"]).json
    assert world.reverse(mistaken["id"]).status_code == 200
    cancelled = world.client.post(
        f"/v1/booklets/{second['id']}/cancellation",
        json={"reason": "lost"},
        headers=world.headers("issuer"),
    )
    assert cancelled.status_code == 200
    allocated = world.client.post(
        f"/v1/programs/{world.program_id}/allocations",
        json={"amount_cents": 50_000, "reference": "avenant 1"},
        headers=world.headers("admin"),
    )
    assert allocated.status_code == 201
    clock.advance(days=366)
    expire_vouchers(database_of(world), clock.current)
    answer = closing(world)
    assert answer.status_code == 200, answer.json
    statement = answer.json
    assert statement["program"]["id"] == world.program_id
    assert statement["program"]["code"] == "HV87"
    assert statement["at"].endswith("Z")
    shown = {name: value for name, value in statement.items() if name not in ("program", "at")}
    assert shown == {
        "allocated": 150_000,
        "issued": 15 * FACE,
        "redeemed": 4 * FACE,
        "settled": 0,
        "paid": 0,
        "expired": 6 * FACE,
        "cancelled": 5 * FACE,
        "outstanding": 0,
        "available": 146_000,
        "unused": 146_000,
        "unpaid": 4 * FACE,
    }
    # The figures add up, and are the programme's own (read from the same balances).
    assert shown["allocated"] == shown["redeemed"] + shown["unused"]
    assert shown["unused"] == shown["available"] + shown["outstanding"]
    assert shown["redeemed"] == shown["paid"] + shown["unpaid"]
    assert shown["outstanding"] == (
        shown["issued"] - shown["redeemed"] - shown["expired"] - shown["cancelled"]
    )
    programme = figures(world)
    for name in ("issued", "redeemed", "expired", "cancelled", "outstanding", "available"):
        assert shown[name] == programme[f"{name}_cents"]
    assert shown["allocated"] == programme["budget_cents"]
    agrees_with_the_ledger(world)


def test_the_closing_statement_pdf_is_one_page_in_french_with_the_same_figures(
    world: World,
) -> None:
    booklet = world.issue("case-1", size=3).json
    assert world.redeem(token=booklet["vouchers"][0]["token"]).status_code == 201
    answer = closing(world, "admin", ".pdf")
    assert answer.status_code == 200
    assert answer.mimetype == "application/pdf"
    assert "releve-de-cloture" in answer.headers["Content-Disposition"]
    document = answer.data
    assert document.startswith(b"%PDF")
    assert page_count(document) == 1
    text = text_of(document)
    for words in (
        "Relevé de clôture",
        "Pass Numérique Haute-Vienne",
        "Département de la Haute-Vienne",
        "Budget alloué",
        "Non utilisé",
        "1 000,00 €",  # allocated
        "990,00 €",  # unused: allocated − redeemed
        "10,00 €",  # redeemed
    ):
        assert words.replace("\u202f", " ") in text.replace("\u202f", " "), words


def test_who_may_read_the_closing_statement(world: World) -> None:
    for suffix in ("", ".pdf"):
        for role in ("issuer", "partner"):
            assert closing(world, role, suffix).status_code == 403
        assert closing(world, "admin", suffix).status_code == 200
        missing = world.client.get(
            f"/v1/programs/{uuid.uuid4()}/closing-statement{suffix}",
            headers=world.headers("auditor"),
        )
        assert missing.status_code == 404
        anonymous = world.client.get(f"/v1/programs/{world.program_id}/closing-statement")
        assert anonymous.status_code == 401
