"""Administration and the roles table (CONTRACT §2)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import PARTNER, PROGRAM, World


def test_a_new_programme_has_its_whole_budget_available(world: World) -> None:
    program = world.client.get(
        f"/v1/programs/{world.program_id}", headers=world.headers("auditor")
    ).json
    assert program["code"] == "HV87"
    assert program["figures"] == {
        "budget_cents": 100_000,
        "issued_cents": 0,
        "redeemed_cents": 0,
        "expired_cents": 0,
        "cancelled_cents": 0,
        "outstanding_cents": 0,
        "available_cents": 100_000,
        "settled_cents": 0,
        "paid_cents": 0,
    }


def test_figures_follow_issuance_redemption_and_reversal(world: World) -> None:
    vouchers = world.issue().json["vouchers"]
    first = world.redeem(token=vouchers[0]["token"]).json
    world.redeem(token=vouchers[1]["token"])
    world.reverse(first["id"], "x")
    figures = world.client.get(
        f"/v1/programs/{world.program_id}", headers=world.headers("issuer")
    ).json["figures"]
    assert figures["issued_cents"] == 10_000
    assert figures["redeemed_cents"] == 1000
    assert figures["outstanding_cents"] == 9000
    assert figures["available_cents"] == 90_000


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"code": "lowercase"}, "/code"),
        ({"currency": "USD"}, "/currency"),
        ({"budget_cents": 0}, "/budget_cents"),
        ({"face_value_cents": -5}, "/face_value_cents"),
        ({"valid_from": "tomorrow"}, "/valid_from"),
        ({"territory": ["99"]}, "/territory/0"),
        ({"valid_until": "2025-01-01T00:00:00Z"}, "/valid_until"),
        ({"unknown": 1}, ""),
    ],
)
def test_a_bad_programme_is_refused_with_the_faulty_field(
    world: World, change: dict[str, Any], path: str
) -> None:
    response = world.client.post(
        "/v1/programs", json={**PROGRAM, "code": "NEW1", **change}, headers=world.headers("admin")
    )
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert any(error["path"] == path for error in response.json["errors"]), response.json


def test_a_programme_code_is_unique(world: World) -> None:
    again = world.client.post("/v1/programs", json=PROGRAM, headers=world.headers("admin"))
    assert again.status_code == 409


@pytest.mark.parametrize("siret", ["73282932000075", "1234", "7328293200007X"])
def test_a_partner_with_a_bad_siret_is_refused(world: World, siret: str) -> None:
    response = world.client.post(
        "/v1/partners", json={**PARTNER, "siret": siret}, headers=world.headers("admin")
    )
    assert response.status_code == 400
    assert response.json["errors"][0]["path"] == "/siret"


def test_a_siret_is_qualified_once(world: World) -> None:
    response = world.client.post("/v1/partners", json=PARTNER, headers=world.headers("admin"))
    assert response.status_code == 409


def test_the_directory_lists_the_nearest_venues_first(world: World) -> None:
    near_saint_junien = "45.887,0.901"
    items = world.client.get(
        f"/v1/partners?near={near_saint_junien}&radius_km=100", headers=world.headers("issuer")
    ).json["items"]
    assert [item["name"] for item in items] == ["Clic Saint-Junien", "Médiathèque francophone"]
    assert items[0]["distance_km"] < 1 < items[1]["distance_km"]
    only_programme = world.client.get(
        f"/v1/partners?program_id={world.program_id}", headers=world.headers("partner")
    ).json["items"]
    assert [item["name"] for item in only_programme] == ["Médiathèque francophone"]
    within_5km = world.client.get(
        f"/v1/partners?near={near_saint_junien}&radius_km=5", headers=world.headers("auditor")
    ).json["items"]
    assert [item["name"] for item in within_5km] == ["Clic Saint-Junien"]
    by_service = world.client.get(
        "/v1/partners?service=atelier-smartphone", headers=world.headers("admin")
    ).json["items"]
    assert [item["name"] for item in by_service] == ["Clic Saint-Junien"]


@pytest.mark.parametrize("query", ["near=abc", "near=91,0", "near=45,1&radius_km=0", "limit=0"])
def test_bad_directory_queries_are_refused(world: World, query: str) -> None:
    assert (
        world.client.get(f"/v1/partners?{query}", headers=world.headers("admin")).status_code == 400
    )


@pytest.mark.parametrize(
    "body",
    [
        {"role": "issuer"},
        {"role": "partner"},
        {"role": "admin", "partner_id": "00000000-0000-0000-0000-000000000000"},
        {"role": "wizard"},
        {"role": "issuer", "organisation_id": "00000000-0000-0000-0000-000000000000"},
    ],
)
def test_an_api_key_is_bound_as_its_role_requires(world: World, body: dict[str, Any]) -> None:
    response = world.client.post("/v1/api-keys", json=body, headers=world.headers("admin"))
    assert response.status_code == 400


def test_api_keys_are_stored_only_as_hashes(world: World) -> None:
    from sqlalchemy import select

    from voucher_service.auth.models import ApiKey

    database = world.client.application.extensions["voucher_service"].database
    with database.read() as session:
        stored = set(session.scalars(select(ApiKey.key_hash)))
    assert not set(world.keys.values()) & stored


def test_no_key_is_unauthorized_and_a_wrong_key_too(world: World) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        response = world.client.get("/v1/redemptions", headers=headers)
        assert response.status_code == 401
        assert response.json["type"].endswith("/problems/unauthorized")


def _body(path: str, world: World) -> dict[str, Any] | None:
    """A body each allowed role's call succeeds with (or is refused for the voucher alone)."""
    return {
        "/v1/programs": {**PROGRAM, "code": "NEW1"},
        "/v1/organisations": {"name": "Mairie de Saint-Junien", "kind": "mairie"},
        "/v1/partners": {**PARTNER, "siret": "12345678900015"},
        "/v1/api-keys": {"role": "auditor", "label": "role table"},
        "/v1/booklets": {"program_id": world.program_id, "beneficiary_ref": "case-roles"},
        "/v1/vouchers/verify": {"token": "not-a-token"},
        "/v1/redemptions": {"token": "not-a-token"},
    }.get(path)


# (method, path, the roles allowed, what an allowed role gets: status and problem slug)
ROLE_TABLE = [
    ("post", "/v1/programs", {"admin"}, (201, None)),
    ("post", "/v1/organisations", {"admin"}, (201, None)),
    ("post", "/v1/partners", {"admin"}, (201, None)),
    ("post", "/v1/api-keys", {"admin"}, (201, None)),
    ("post", "/v1/booklets", {"issuer"}, (201, None)),
    # Only the voucher stands in the way: the role passed, the token is what is refused.
    ("post", "/v1/vouchers/verify", {"partner"}, (400, "invalid-voucher-token")),
    ("post", "/v1/redemptions", {"partner"}, (400, "invalid-voucher-token")),
    ("get", "/v1/redemptions", {"partner", "admin", "auditor"}, (200, None)),
    ("get", "/v1/ledger/entries", {"auditor", "admin"}, (200, None)),
    ("get", "/v1/ledger/balances", {"auditor", "admin"}, (200, None)),
    ("get", "/v1/audit/bundle", {"auditor", "admin"}, (200, None)),
]


@pytest.mark.parametrize(("method", "path", "allowed", "outcome"), ROLE_TABLE)
def test_each_role_may_do_only_what_the_table_allows(
    world: World,
    method: str,
    path: str,
    allowed: set[str],
    outcome: tuple[int, str | None],
) -> None:
    for role in ("admin", "issuer", "partner", "auditor"):
        response = getattr(world.client, method)(
            path, json=_body(path, world), headers=world.headers(role, f"roles-{role}")
        )
        response.close()
        status, slug = outcome if role in allowed else (403, "forbidden")
        assert response.status_code == status, (role, path, response.status_code, response.data)
        if slug is not None:
            assert response.json["type"].endswith(f"/problems/{slug}"), (role, path)


def test_an_issuer_does_not_see_a_programme_its_organisation_does_not_distribute(
    world: World,
) -> None:
    other = world.client.post(
        "/v1/programs", json={**PROGRAM, "code": "CR23"}, headers=world.headers("admin")
    ).json
    response = world.client.get(f"/v1/programs/{other['id']}", headers=world.headers("issuer"))
    assert response.status_code == 404
