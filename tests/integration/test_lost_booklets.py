"""Lost booklets through HTTP: a cancellation revokes what was not yet redeemed and gives its
value back in one ledger entry, once; a reissue gives the same beneficiary as many vouchers,
once, without counting twice against the cap; and neither loses nor doubles a cent when
redemptions race them."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.conftest import Clock, World, make_world
from voucher_service.ledger.models import LedgerTransfer
from voucher_service.ledger.sequencer import integrate_all
from voucher_service.ledger.verify import verify_bundle
from voucher_service.vouchers.models import Voucher

FACE = 1000


def cancel(world: World, booklet_id: str, reason: Any = "lost", role: str = "issuer") -> Any:
    return world.client.post(
        f"/v1/booklets/{booklet_id}/cancellation",
        json={"reason": reason},
        headers=world.headers(role),
    )


def reissue(world: World, booklet_id: str, key: str | None = None, role: str = "issuer") -> Any:
    return world.client.post(
        f"/v1/booklets/{booklet_id}/reissue",
        headers=world.headers(role, key or uuid.uuid4().hex),
    )


def slug(response: Any) -> str:
    return str(response.json["type"]).rpartition("/")[2]


def booklet(world: World, booklet_id: str, role: str = "issuer") -> dict[str, Any]:
    answer = world.client.get(f"/v1/booklets/{booklet_id}", headers=world.headers(role))
    assert answer.status_code == 200, answer.json
    found: dict[str, Any] = answer.json
    return found


def statuses(view: dict[str, Any]) -> Counter[str]:
    return Counter(voucher["status"] for voucher in view["vouchers"])


def figures(world: World) -> dict[str, int]:
    answer = world.client.get(f"/v1/programs/{world.program_id}", headers=world.headers("admin"))
    found: dict[str, int] = answer.json["figures"]
    return found


def entries(world: World, kind: str) -> list[dict[str, Any]]:
    with world.client.application.extensions["voucher_service"].database.read() as session:
        found = session.scalars(
            select(LedgerTransfer.entry).where(LedgerTransfer.kind == kind)
        ).all()
    return [json.loads(entry) for entry in found]


def other_issuer(world: World) -> dict[str, str]:
    admin = world.headers("admin")
    organisation = world.client.post(
        "/v1/organisations",
        json={"name": "Mairie d'Isle", "kind": "mairie", "programs": [world.program_id]},
        headers=admin,
    ).json
    key = world.client.post(
        "/v1/api-keys",
        json={"role": "issuer", "organisation_id": organisation["id"], "label": "Isle"},
        headers=admin,
    ).json["key"]
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def issued(world: World) -> dict[str, Any]:
    """A booklet of five vouchers, two of them redeemed."""
    answer = world.issue("case-lost", size=5)
    assert answer.status_code == 201, answer.json
    for voucher in answer.json["vouchers"][:2]:
        assert world.redeem(token=voucher["token"]).status_code == 201
    found: dict[str, Any] = answer.json
    return found


# Cancellation


def test_a_cancellation_revokes_the_unredeemed_vouchers_in_one_ledger_entry(
    world: World, issued: dict[str, Any]
) -> None:
    before = figures(world)
    answer = cancel(world, issued["id"], "perdu dans le bus")
    assert answer.status_code == 200, answer.json
    assert answer.json["cancelled_at"] is not None
    assert answer.json["cancellation_reason"] == "perdu dans le bus"
    assert answer.json["replaced_by"] is None
    assert statuses(answer.json) == {"redeemed": 2, "cancelled": 3}
    assert answer.json == booklet(world, issued["id"])
    [entry] = entries(world, "cancel")
    assert entry["booklet_id"] == issued["id"]
    assert entry["organisation_id"] == world.organisation_id
    assert sorted(entry["voucher_ids"]) == sorted(v["id"] for v in issued["vouchers"][2:])
    assert entry["postings"][0]["amount"] == 3 * FACE
    after = figures(world)
    assert after["cancelled_cents"] == 3 * FACE
    assert after["available_cents"] == before["available_cents"] + 3 * FACE
    assert after["outstanding_cents"] == before["outstanding_cents"] - 3 * FACE
    assert after["redeemed_cents"] == before["redeemed_cents"] == 2 * FACE


def test_a_cancelled_voucher_is_revoked_by_token_and_by_code(
    world: World, issued: dict[str, Any]
) -> None:
    assert cancel(world, issued["id"]).status_code == 200
    voucher = issued["vouchers"][3]
    for body in ({"token": voucher["token"]}, {"code": voucher["code"]}):
        refused = world.redeem(**body)
        assert refused.status_code == 410 and slug(refused) == "voucher-revoked", refused.json
        checked = world.client.post(
            "/v1/vouchers/verify", json=body, headers=world.headers("partner")
        )
        assert checked.json["redeemable"] is False
        assert checked.json["reason"] == "voucher-revoked"
    # A redeemed voucher stays redeemed: again, it is already redeemed, not revoked.
    again = world.redeem(token=issued["vouchers"][0]["token"])
    assert again.status_code == 409 and slug(again) == "voucher-already-redeemed"


def test_a_booklet_is_cancelled_once_and_a_second_time_changes_nothing(
    world: World, issued: dict[str, Any]
) -> None:
    first = cancel(world, issued["id"], "lost")
    again = cancel(world, issued["id"], "stolen", role="admin")
    assert again.status_code == 409 and slug(again) == "conflict"
    assert booklet(world, issued["id"]) == first.json
    assert len(entries(world, "cancel")) == 1
    assert figures(world)["cancelled_cents"] == 3 * FACE


def test_a_fully_redeemed_booklet_is_cancelled_without_a_ledger_entry(world: World) -> None:
    vouchers = world.issue("case-2", size=2).json
    for voucher in vouchers["vouchers"]:
        assert world.redeem(token=voucher["token"]).status_code == 201
    answer = cancel(world, vouchers["id"])
    assert answer.status_code == 200 and statuses(answer.json) == {"redeemed": 2}
    assert entries(world, "cancel") == []
    nothing = reissue(world, vouchers["id"])
    assert nothing.status_code == 409 and slug(nothing) == "conflict"


def test_a_redemption_reversed_after_the_cancellation_is_cancelled_not_back_in_circulation(
    world: World, issued: dict[str, Any]
) -> None:
    """The booklet is lost: a voucher redeemed before its cancellation and reversed after it
    must not come back into circulation (whoever holds the lost booklet could redeem it, and
    the reissue already gave the beneficiary its replacement). It is cancelled, its value
    back to the programme by a cancel entry, and the ledger agrees with the vouchers."""
    voucher = issued["vouchers"][2]
    redemption = world.redeem(token=voucher["token"]).json
    assert cancel(world, issued["id"]).status_code == 200
    assert reissue(world, issued["id"]).status_code == 201
    before = figures(world)
    reversed_ = world.reverse(redemption["id"])
    assert reversed_.status_code == 200, reversed_.json
    assert reversed_.json["reversed_at"] is not None
    view = booklet(world, issued["id"])
    assert statuses(view) == {"redeemed": 2, "cancelled": 3}
    refused = world.redeem(token=voucher["token"])
    assert refused.status_code == 410 and slug(refused) == "voucher-revoked", refused.json
    [_, entry] = sorted(entries(world, "cancel"), key=lambda e: len(e["voucher_ids"]))[::-1]
    assert entry["voucher_ids"] == [voucher["id"]]
    assert entry["booklet_id"] == issued["id"]
    assert entry["organisation_id"] == world.organisation_id
    assert entry["postings"][0]["amount"] == FACE
    after = figures(world)
    assert after["redeemed_cents"] == before["redeemed_cents"] - FACE
    assert after["cancelled_cents"] == before["cancelled_cents"] + FACE
    assert after["outstanding_cents"] == before["outstanding_cents"]
    assert after["available_cents"] == before["available_cents"] + FACE
    assert ledger_agrees_with_vouchers(world)


def test_the_admin_cancels_any_booklet_and_an_issuer_only_its_organisations(
    world: World, issued: dict[str, Any]
) -> None:
    refused = world.client.post(
        f"/v1/booklets/{issued['id']}/cancellation",
        json={"reason": "lost"},
        headers=other_issuer(world),
    )
    assert refused.status_code == 404 and slug(refused) == "not-found"
    for role in ("partner", "auditor"):
        assert cancel(world, issued["id"], role=role).status_code == 403
    unknown = cancel(world, str(uuid.uuid4()))
    assert unknown.status_code == 404
    no_key = world.client.post(f"/v1/booklets/{issued['id']}/cancellation", json={"reason": "x"})
    assert no_key.status_code == 401
    assert statuses(booklet(world, issued["id"])) == {"redeemed": 2, "issued": 3}
    assert cancel(world, issued["id"], role="admin").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"reason": ""},
        {"reason": "x" * 501},
        {"reason": 42},
        {"reason": None},
        {"reason": "lost", "extra": 1},
        {"reason": "lost\u0000"},
        [],
        "lost",
    ],
)
def test_a_bad_cancellation_is_refused_and_changes_nothing(
    world: World, issued: dict[str, Any], body: Any
) -> None:
    answer = world.client.post(
        f"/v1/booklets/{issued['id']}/cancellation", json=body, headers=world.headers("issuer")
    )
    assert answer.status_code == 400 and slug(answer) == "invalid-request", answer.json
    assert statuses(booklet(world, issued["id"])) == {"redeemed": 2, "issued": 3}
    malformed = world.client.post(
        "/v1/booklets/not-a-uuid/cancellation",
        json={"reason": "x"},
        headers=world.headers("issuer"),
    )
    assert malformed.status_code == 404


def test_a_pre_printed_booklet_never_handed_out_is_cancelled_but_not_reissued(
    world: World,
) -> None:
    batch = world.client.post(
        "/v1/booklet-batches",
        json={"program_id": world.program_id, "count": 1, "size": 4},
        headers=world.headers("issuer", uuid.uuid4().hex),
    ).json
    printed = batch["booklets"][0]
    answer = cancel(world, printed["id"], "carton volé")
    assert answer.status_code == 200, answer.json
    assert statuses(answer.json) == {"cancelled": 4}
    assert figures(world)["cancelled_cents"] == 4 * FACE
    refused = reissue(world, printed["id"])
    assert refused.status_code == 409 and slug(refused) == "conflict"
    assert "beneficiary" in refused.json["detail"]
    revoked = world.redeem(token=printed["vouchers"][0]["token"])
    assert revoked.status_code == 410 and slug(revoked) == "voucher-revoked"
    # A stolen box's booklet cannot be handed out afterwards (and so cannot gain a
    # beneficiary to be reissued to).
    handed = world.client.post(
        f"/v1/booklets/{printed['id']}/activation",
        json={"beneficiary_ref": "case-stolen"},
        headers=world.headers("issuer"),
    )
    assert handed.status_code == 409 and slug(handed) == "conflict"
    assert booklet(world, printed["id"])["activated_at"] is None
    assert reissue(world, printed["id"]).status_code == 409


# Reissue


def test_a_reissue_gives_the_beneficiary_as_many_vouchers_linked_both_ways(
    world: World, issued: dict[str, Any]
) -> None:
    assert cancel(world, issued["id"]).status_code == 200
    before = figures(world)
    answer = reissue(world, issued["id"])
    assert answer.status_code == 201, answer.json
    new = answer.json
    assert new["replaces"] == {"id": issued["id"]}
    assert answer.headers["Location"] == f"/v1/booklets/{new['id']}"
    assert answer.headers["Cache-Control"] == "no-store"
    assert len(new["vouchers"]) == 3
    assert booklet(world, issued["id"])["replaced_by"] == {"id": new["id"]}
    assert booklet(world, new["id"])["replaces"] == {"id": issued["id"]}
    # The same beneficiary: listing by case reference finds both booklets.
    listed = world.client.get(
        f"/v1/booklets?beneficiary_ref=case-lost&program_id={world.program_id}",
        headers=world.headers("issuer"),
    ).json
    assert {item["id"] for item in listed["items"]} == {issued["id"], new["id"]}
    for voucher in new["vouchers"]:
        assert world.redeem(token=voucher["token"]).status_code == 201
    after = figures(world)
    assert after["issued_cents"] == before["issued_cents"] + 3 * FACE
    assert after["redeemed_cents"] == before["redeemed_cents"] + 3 * FACE
    [entry] = entries(world, "issue")[-1:]
    assert entry["booklet_id"] == new["id"]


def test_a_booklet_is_reissued_once_and_a_retry_replays_the_same_booklet(
    world: World, issued: dict[str, Any]
) -> None:
    assert cancel(world, issued["id"]).status_code == 200
    key = uuid.uuid4().hex
    first = reissue(world, issued["id"], key)
    replay = reissue(world, issued["id"], key)
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json == first.json
    again = reissue(world, issued["id"])
    assert again.status_code == 409 and slug(again) == "conflict"
    assert first.json["id"] in again.json["detail"]
    assert len(entries(world, "issue")) == 2


def test_only_a_cancelled_booklet_of_ones_own_organisation_is_reissued(
    world: World, issued: dict[str, Any]
) -> None:
    live = reissue(world, issued["id"])
    assert live.status_code == 409 and slug(live) == "conflict"
    assert cancel(world, issued["id"]).status_code == 200
    other = world.client.post(
        f"/v1/booklets/{issued['id']}/reissue",
        headers={**other_issuer(world), "Idempotency-Key": uuid.uuid4().hex},
    )
    assert other.status_code == 404
    for role in ("admin", "partner", "auditor"):
        assert reissue(world, issued["id"], role=role).status_code == 403
    keyless = world.client.post(
        f"/v1/booklets/{issued['id']}/reissue", headers=world.headers("issuer")
    )
    assert keyless.status_code == 400 and slug(keyless) == "idempotency-key-required"
    assert reissue(world, str(uuid.uuid4())).status_code == 404
    assert booklet(world, issued["id"])["replaced_by"] is None


def test_a_reissue_does_not_count_twice_against_the_cap(world: World) -> None:
    """The beneficiary holds the cap (20): two booklets of ten. One is lost unused; its
    replacement fits, since cancelled vouchers leave the count; one more voucher does not."""
    first = world.issue("case-cap", size=10).json
    assert world.issue("case-cap", size=10).status_code == 201
    full = world.issue("case-cap", size=1)
    assert full.status_code == 409 and slug(full) == "beneficiary-limit-reached"
    assert cancel(world, first["id"]).status_code == 200
    replaced = reissue(world, first["id"])
    assert replaced.status_code == 201, replaced.json
    assert len(replaced.json["vouchers"]) == 10
    still_full = world.issue("case-cap", size=1)
    assert still_full.status_code == 409 and slug(still_full) == "beneficiary-limit-reached"


def test_a_reissue_keeps_the_cap_when_the_beneficiary_was_issued_meanwhile(
    world: World,
) -> None:
    lost = world.issue("case-meanwhile", size=10).json
    assert world.issue("case-meanwhile", size=10).status_code == 201
    assert cancel(world, lost["id"]).status_code == 200
    # The desk issued a new booklet instead of reissuing: the cap is full again.
    assert world.issue("case-meanwhile", size=10).status_code == 201
    refused = reissue(world, lost["id"])
    assert refused.status_code == 409 and slug(refused) == "beneficiary-limit-reached"
    assert booklet(world, lost["id"])["replaced_by"] is None


def test_a_reissue_follows_the_programmes_dates(
    app: Flask, client: FlaskClient, clock: Clock
) -> None:
    world = make_world(app, client, valid_until="2099-01-01T00:00:00Z")
    lost = world.issue("case-late", size=3).json
    assert cancel(world, lost["id"]).status_code == 200
    clock.advance(days=365 * 80)
    late = reissue(world, lost["id"])
    assert late.status_code == 409 and slug(late) == "program-not-active"


def test_a_reissue_needs_the_budget_back_that_the_cancellation_gave(
    app: Flask, client: FlaskClient
) -> None:
    world = make_world(app, client, budget_cents=10 * FACE)
    lost = world.issue("case-a", size=5).json
    assert cancel(world, lost["id"]).status_code == 200
    # Someone else spends the whole budget, the returned value included.
    assert world.issue("case-b", size=10).status_code == 201
    broke = reissue(world, lost["id"])
    assert broke.status_code == 409 and slug(broke) == "budget-exhausted"
    assert booklet(world, lost["id"])["replaced_by"] is None


def test_the_audit_bundle_verifies_after_a_cancellation_and_a_reissue(
    app: Flask, world: World, issued: dict[str, Any], tmp_path: Path
) -> None:
    redemption = world.redeem(token=issued["vouchers"][2]["token"]).json
    assert cancel(world, issued["id"]).status_code == 200
    new = reissue(world, issued["id"]).json
    assert world.redeem(token=new["vouchers"][0]["token"]).status_code == 201
    # A redemption of the lost booklet undone after its cancellation: reversed, then cancelled.
    assert world.reverse(redemption["id"]).status_code == 200
    services = app.extensions["voucher_service"]
    integrate_all(services.database, services.context)
    archive = world.client.get("/v1/audit/bundle", headers=world.headers("auditor"))
    path = tmp_path / "bundle.zip"
    path.write_bytes(archive.data)
    archive.close()
    report = verify_bundle(path)
    assert report.ok, report.render()
    assert ledger_agrees_with_vouchers(world)


def ledger_agrees_with_vouchers(world: World) -> bool:
    """The figures, read from the ledger's balances, equal the sums of the vouchers' states."""
    shown = figures(world)
    with world.client.application.extensions["voucher_service"].database.read() as session:
        states = Counter(
            dict(
                session.execute(
                    select(Voucher.status, func.sum(Voucher.value_cents)).group_by(Voucher.status)
                ).all()
            )
        )
    assert states["redeemed"] == shown["redeemed_cents"]
    assert states["cancelled"] == shown["cancelled_cents"]
    assert states["expired"] == shown["expired_cents"]
    assert states["issued"] + states["printed"] == shown["outstanding_cents"]
    return True


# Races


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_cancellation_among_redemptions_of_its_booklets_loses_and_doubles_nothing(
    app: Flask, world: World
) -> None:
    """Three partners' tabs redeem six booklets' vouchers while their issuer cancels the
    booklets one by one: each voucher ends redeemed or cancelled, never both, and the ledger
    (the cancel entries' amounts, the figures) says exactly what the vouchers say."""
    booklets = [world.issue(f"case-race-{n}", size=10).json for n in range(6)]
    # Position by position across the booklets, so that every booklet is being redeemed
    # while the cancellations run.
    tokens = [b["vouchers"][position]["token"] for position in range(10) for b in booklets]
    warmed = threading.Barrier(4)  # the first redemptions are done: cancelling starts
    first_cancelled = threading.Event()  # the first booklet is cancelled: the race is on
    answers: list[tuple[int, str]] = []
    errors: list[BaseException] = []

    def redeem(part: list[str]) -> None:
        try:
            client = app.test_client()
            for index, token in enumerate(part):
                if index == 4:
                    warmed.wait()
                    first_cancelled.wait(30)
                answer = client.post(
                    "/v1/redemptions",
                    json={"token": token},
                    headers=world.headers("partner", uuid.uuid4().hex),
                )
                answers.append((answer.status_code, str(answer.json.get("type", ""))))
        except BaseException as error:  # reported below
            errors.append(error)

    cancelled: list[Any] = []

    def cancel_all() -> None:
        try:
            client = app.test_client()
            warmed.wait()
            for found in booklets:
                cancelled.append(
                    client.post(
                        f"/v1/booklets/{found['id']}/cancellation",
                        json={"reason": "lost"},
                        headers=world.headers("issuer"),
                    )
                )
                first_cancelled.set()
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=redeem, args=(tokens[i::3],)) for i in range(3)]
    threads.append(threading.Thread(target=cancel_all))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert [answer.status_code for answer in cancelled] == [200] * 6
    assert {status for status, _ in answers} <= {201, 410}
    assert all(kind.endswith("voucher-revoked") for status, kind in answers if status == 410)
    redeemed = sum(1 for status, _ in answers if status == 201)
    assert len(answers) == 60
    # The 12 redeemed before any cancellation; the first booklet's 8 others, cancelled first.
    assert 12 <= redeemed <= 52
    # Every voucher is redeemed or cancelled, never both; the ledger says the same.
    final: Counter[str] = Counter()
    for found in booklets:
        final.update(statuses(booklet(world, found["id"])))
    assert final == Counter({"redeemed": redeemed, "cancelled": 60 - redeemed})
    cancel_amounts = sum(entry["postings"][0]["amount"] for entry in entries(world, "cancel"))
    assert cancel_amounts == (60 - redeemed) * FACE
    shown = figures(world)
    assert shown["redeemed_cents"] == redeemed * FACE
    assert shown["cancelled_cents"] == (60 - redeemed) * FACE
    assert shown["outstanding_cents"] == 0
    assert ledger_agrees_with_vouchers(world)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_reversals_racing_a_cancellation_leave_no_voucher_of_the_lost_booklet_live(
    app: Flask, world: World
) -> None:
    """A partner undoes its redemptions of a booklet while the issuer cancels it: whichever
    commits first, every voucher ends cancelled (never issued in a cancelled booklet), and
    the cancel entries give back exactly their value."""
    lost = world.issue("case-race-reversal", size=10).json
    redemptions = [world.redeem(token=v["token"]).json for v in lost["vouchers"]]
    start = threading.Barrier(len(redemptions) + 1)
    answers: list[int] = []
    errors: list[BaseException] = []

    def reverse(redemption_id: str) -> None:
        try:
            client = app.test_client()
            start.wait()
            answer = client.post(
                f"/v1/redemptions/{redemption_id}/reversal",
                json={"reason": "mistake"},
                headers=world.headers("partner"),
            )
            answers.append(answer.status_code)
        except BaseException as error:  # reported below
            errors.append(error)

    def cancel_it() -> None:
        try:
            client = app.test_client()
            start.wait()
            answer = client.post(
                f"/v1/booklets/{lost['id']}/cancellation",
                json={"reason": "stolen"},
                headers=world.headers("issuer"),
            )
            answers.append(answer.status_code)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=reverse, args=(r["id"],)) for r in redemptions]
    threads.append(threading.Thread(target=cancel_it))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert answers == [200] * 11
    assert statuses(booklet(world, lost["id"])) == {"cancelled": 10}
    cancel_amounts = sum(entry["postings"][0]["amount"] for entry in entries(world, "cancel"))
    assert cancel_amounts == 10 * FACE
    shown = figures(world)
    assert shown["redeemed_cents"] == 0 and shown["outstanding_cents"] == 0
    assert ledger_agrees_with_vouchers(world)
