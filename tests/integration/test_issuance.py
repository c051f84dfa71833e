"""Issuing booklets through HTTP: what is printed, and every refusal leaves nothing behind."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select, text

from tests.conftest import PROGRAM, World, make_world
from voucher_service.ledger.models import LedgerTransfer
from voucher_service.vouchers.models import Booklet, Voucher


def count(world: World, model: type) -> int:
    database = world.client.application.extensions["voucher_service"].database
    with database.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_booklet_has_signed_vouchers_with_qr_content_and_codes(world: World) -> None:
    response = world.issue()
    assert response.status_code == 201
    booklet = response.json
    assert len(booklet["vouchers"]) == 10
    voucher = booklet["vouchers"][0]
    assert voucher["qr_content"] == f"https://pass.example.fr/r#{voucher['token']}"
    assert voucher["value_cents"] == 1000 and voucher["currency"] == "EUR"
    assert len(voucher["code"]) == 16 and voucher["code"].count("-") == 3
    assert len({v["token"] for v in booklet["vouchers"]}) == 10


def test_the_size_may_be_smaller_than_the_programmes_booklet(world: World) -> None:
    assert len(world.issue(size=3).json["vouchers"]) == 3


def test_a_size_beyond_the_programmes_booklet_is_refused(world: World) -> None:
    response = world.issue(size=11)
    assert response.status_code == 400
    assert response.json["type"].endswith("/problems/invalid-request")


def test_the_beneficiary_reference_is_stored_only_as_a_keyed_hash(world: World) -> None:
    world.issue(beneficiary="DOSSIER-SECRET-123")
    database = world.client.application.extensions["voucher_service"].database
    with database.read() as session:
        stored = session.scalar(select(Booklet.beneficiary_hash))
        dump = " ".join(
            str(row) for table in ("booklets", "vouchers", "ledger_transfers")
            for row in session.execute(text(f"SELECT * FROM {table}"))
        )  # fmt: skip
    assert stored is not None and len(stored) == 64
    assert "DOSSIER-SECRET-123" not in dump


def test_issuing_beyond_the_budget_is_refused_and_issues_nothing(app, client) -> None:  # type: ignore[no-untyped-def]
    world = make_world(app, client, budget_cents=25_000)
    assert world.issue("a").status_code == 201
    assert world.issue("b").status_code == 201
    before = (count(world, Voucher), count(world, LedgerTransfer))
    refused = world.issue("c")
    assert refused.status_code == 409
    assert refused.json["type"].endswith("/problems/budget-exhausted")
    assert (count(world, Voucher), count(world, LedgerTransfer)) == before
    assert world.issue("c", size=5).status_code == 201


def test_the_per_beneficiary_cap_is_enforced(world: World) -> None:
    assert world.issue("case-7").status_code == 201
    assert world.issue("case-7").status_code == 201
    refused = world.issue("case-7", size=1)
    assert refused.status_code == 409
    assert refused.json["type"].endswith("/problems/beneficiary-limit-reached")
    assert world.issue("case-8", size=1).status_code == 201


@pytest.mark.parametrize(
    "spelling",
    [
        "Dossier-2026-0042 ",  # capital, trailing space
        "dossier\u200b-2026-0042",  # a zero-width space
        "dossier\u20102026\u20110042",  # Unicode hyphens
        "ＤＯＳＳＩＥＲ-２０２６-００４２",  # full-width forms
        " dossier-2026-0042\u00ad",  # a soft hyphen
    ],
)
def test_the_cap_counts_every_spelling_of_a_reference_as_one(world: World, spelling: str) -> None:
    assert world.issue("dossier-2026-0042").status_code == 201
    assert world.issue("dossier-2026-0042").status_code == 201
    refused = world.issue(spelling, size=1)
    assert refused.status_code == 409
    assert refused.json["type"].endswith("/problems/beneficiary-limit-reached")


def test_issuing_outside_the_programmes_dates_is_refused(app, client) -> None:  # type: ignore[no-untyped-def]
    world = make_world(
        app, client, valid_from="2020-01-01T00:00:00Z", valid_until="2021-01-01T00:00:00Z"
    )
    refused = world.issue()
    assert refused.status_code == 409
    assert refused.json["type"].endswith("/problems/program-not-active")
    assert count(world, Voucher) == 0


def test_an_issuer_cannot_issue_for_a_programme_its_organisation_does_not_distribute(
    world: World,
) -> None:
    admin = world.headers("admin")
    other = world.client.post(
        "/v1/programs", json={**PROGRAM_B, "code": "CR23"}, headers=admin
    ).json["id"]
    refused = world.client.post(
        "/v1/booklets",
        json={"program_id": other, "beneficiary_ref": "x"},
        headers=world.headers("issuer", "k1"),
    )
    assert refused.status_code == 403


def test_an_unknown_programme_is_not_found(world: World) -> None:
    response = world.client.post(
        "/v1/booklets",
        json={"program_id": str(uuid.uuid4()), "beneficiary_ref": "x"},
        headers=world.headers("issuer", "k1"),
    )
    assert response.status_code == 404


def test_the_same_idempotency_key_replays_the_same_booklet(world: World) -> None:
    body = {"program_id": world.program_id, "beneficiary_ref": "case-9"}
    first = world.client.post("/v1/booklets", json=body, headers=world.headers("issuer", "b-1"))
    again = world.client.post("/v1/booklets", json=body, headers=world.headers("issuer", "b-1"))
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.data == first.data
    assert count(world, Booklet) == 1


def test_an_issuer_sees_its_own_booklets_and_not_others(app, world: World) -> None:  # type: ignore[no-untyped-def]
    booklet = world.issue().json
    seen = world.client.get(f"/v1/booklets/{booklet['id']}", headers=world.headers("issuer"))
    assert seen.status_code == 200
    assert [v["status"] for v in seen.json["vouchers"]] == ["issued"] * 10
    assert "token" not in seen.json["vouchers"][0]
    admin = world.headers("admin")
    organisation = world.client.post(
        "/v1/organisations", json={"name": "Mairie", "kind": "mairie"}, headers=admin
    ).json
    stranger = world.client.post(
        "/v1/api-keys",
        json={"role": "issuer", "organisation_id": organisation["id"]},
        headers=admin,
    ).json["key"]
    hidden = world.client.get(
        f"/v1/booklets/{booklet['id']}", headers={"Authorization": f"Bearer {stranger}"}
    )
    assert hidden.status_code == 404
    assert world.client.get(f"/v1/booklets/{booklet['id']}", headers=admin).status_code == 200


def test_issuing_writes_one_balanced_transfer_naming_every_voucher(world: World) -> None:
    booklet = world.issue().json
    database = world.client.application.extensions["voucher_service"].database
    with database.read() as session:
        transfer = session.get(LedgerTransfer, booklet["ledger_entry"]["id"])
    assert transfer is not None and transfer.kind == "issue"
    import json

    entry = json.loads(transfer.entry)
    assert entry["voucher_ids"] == [v["id"] for v in booklet["vouchers"]]
    assert entry["postings"] == [
        {
            "source": f"program:{world.program_id}:available",
            "destination": f"program:{world.program_id}:outstanding",
            "amount": 10_000,
        }
    ]


PROGRAM_B = {
    **PROGRAM,
    "code": "CR23",
    "name": "Pass Numérique Creuse",
    "funder": "Département de la Creuse",
    "territory": ["23"],
}
