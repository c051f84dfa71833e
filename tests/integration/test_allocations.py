"""More budget: an allocation is an `allocate` ledger entry with the funder's reference, and
issuance can spend it at once; a bad allocation is refused and changes nothing."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.conftest import World, make_world
from voucher_service.ledger.models import LedgerTransfer
from voucher_service.ledger.sequencer import integrate_all
from voucher_service.ledger.verify import verify_bundle

FACE = 1000


def allocate(world: World, body: Any, role: str = "admin", program_id: str | None = None) -> Any:
    return world.client.post(
        f"/v1/programs/{program_id or world.program_id}/allocations",
        json=body,
        headers=world.headers(role),
    )


def slug(response: Any) -> str:
    return str(response.json["type"]).rpartition("/")[2]


def programme(world: World) -> dict[str, Any]:
    answer = world.client.get(f"/v1/programs/{world.program_id}", headers=world.headers("admin"))
    found: dict[str, Any] = answer.json
    return found


def allocations(world: World) -> list[dict[str, Any]]:
    with world.client.application.extensions["voucher_service"].database.read() as session:
        found = session.scalars(
            select(LedgerTransfer.entry).where(LedgerTransfer.kind == "allocate")
        ).all()
    return [json.loads(entry) for entry in found]


@pytest.fixture
def small(app: Flask, client: FlaskClient) -> World:
    """A programme whose budget pays for one booklet of ten."""
    return make_world(app, client, budget_cents=10 * FACE)


def test_issuance_spends_an_allocation_at_once(small: World) -> None:
    assert small.issue("case-1", size=10).status_code == 201
    broke = small.issue("case-2", size=5)
    assert broke.status_code == 409 and slug(broke) == "budget-exhausted"
    answer = allocate(small, {"amount_cents": 5 * FACE, "reference": "Délibération CP-2027-114"})
    assert answer.status_code == 201, answer.json
    allocation = answer.json
    assert allocation["program_id"] == small.program_id
    assert allocation["amount_cents"] == 5 * FACE
    assert allocation["reference"] == "Délibération CP-2027-114"
    assert allocation["funder"] == "Département de la Haute-Vienne"
    assert allocation["budget_cents"] == 15 * FACE
    assert allocation["available_cents"] == 5 * FACE
    assert allocation["ledger_entry"]["id"] == allocation["id"]
    assert answer.headers["Location"] == f"/v1/ledger/entries/{allocation['id']}"
    shown = programme(small)
    assert shown["budget_cents"] == shown["figures"]["budget_cents"] == 15 * FACE
    assert shown["figures"]["available_cents"] == 5 * FACE
    assert small.issue("case-2", size=5).status_code == 201
    again = small.issue("case-3", size=1)
    assert again.status_code == 409 and slug(again) == "budget-exhausted"


def test_an_allocation_is_a_ledger_entry_with_the_funders_reference(
    app: Flask, small: World, tmp_path: Path
) -> None:
    answer = allocate(small, {"amount_cents": 1, "reference": "BC 2027/0042"})
    assert answer.status_code == 201
    first, second = allocations(small)
    assert "reference" not in first  # the budget given when the programme was made
    assert second["reference"] == "BC 2027/0042"
    assert second["program_id"] == small.program_id
    assert second["postings"] == [
        {
            "source": "funder:departement-de-la-haute-vienne:appropriation",
            "destination": f"program:{small.program_id}:available",
            "amount": 1,
        }
    ]
    entry = small.client.get(answer.headers["Location"], headers=small.headers("auditor"))
    assert entry.status_code == 200, entry.json
    services = app.extensions["voucher_service"]
    integrate_all(services.database, services.context)
    archive = small.client.get("/v1/audit/bundle", headers=small.headers("auditor"))
    path = tmp_path / "bundle.zip"
    path.write_bytes(archive.data)
    archive.close()
    report = verify_bundle(path)
    assert report.ok, report.render()
    assert report.balances[f"program:{small.program_id}:available"] == 10 * FACE + 1


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"amount_cents": 100},
        {"reference": "x"},
        {"amount_cents": 0, "reference": "x"},
        {"amount_cents": -100, "reference": "x"},
        {"amount_cents": 10.5, "reference": "x"},
        {"amount_cents": 100.0, "reference": "x"},
        {"amount_cents": "100", "reference": "x"},
        {"amount_cents": True, "reference": "x"},
        {"amount_cents": 10**13 + 1, "reference": "x"},
        {"amount_cents": 10**30, "reference": "x"},
        {"amount_cents": 100, "reference": ""},
        {"amount_cents": 100, "reference": "x" * 101},
        {"amount_cents": 100, "reference": None},
        {"amount_cents": 100, "reference": "bad\u0000byte"},
        {"amount_cents": 100, "reference": "x", "funder": "someone else"},
        [100, "x"],
    ],
)
def test_a_bad_allocation_is_refused_and_changes_nothing(small: World, body: Any) -> None:
    answer = allocate(small, body)
    assert answer.status_code == 400 and slug(answer) == "invalid-request", answer.json
    assert len(allocations(small)) == 1
    assert programme(small)["figures"]["budget_cents"] == 10 * FACE


def test_a_budget_stays_below_its_bound_in_all(small: World) -> None:
    for _ in range(99):
        assert allocate(small, {"amount_cents": 10**13, "reference": "x"}).status_code == 201
    over = allocate(small, {"amount_cents": 10**13, "reference": "x"})
    assert over.status_code == 400 and over.json["errors"][0]["path"] == "/amount_cents"
    assert programme(small)["figures"]["budget_cents"] == 99 * 10**13 + 10 * FACE


def test_only_the_admin_allocates(small: World) -> None:
    body = {"amount_cents": 100, "reference": "x"}
    for role in ("issuer", "partner", "auditor"):
        answer = allocate(small, body, role)
        assert answer.status_code == 403 and slug(answer) == "forbidden"
    anonymous = small.client.post(f"/v1/programs/{small.program_id}/allocations", json=body)
    assert anonymous.status_code == 401
    missing = allocate(small, body, program_id=str(uuid.uuid4()))
    assert missing.status_code == 404 and slug(missing) == "not-found"
    malformed = small.client.post(
        "/v1/programs/nope/allocations", json=body, headers=small.headers("admin")
    )
    assert malformed.status_code == 404
    assert len(allocations(small)) == 1
