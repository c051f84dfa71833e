"""Lists a page at a time, each role seeing its own; new resources located; dates as days."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import PARTNER, PROGRAM, Clock, World
from voucher_service.schemas import validator


def assert_matches(schema: str, body: Any) -> None:
    errors = [error.message for error in validator(schema).iter_errors(body)]
    assert errors == [], errors


def admin_post(world: World, path: str, body: dict[str, Any]) -> Any:
    response = world.client.post(path, json=body, headers=world.headers("admin"))
    assert response.status_code in (200, 201), response.json
    return response.json


def new_program(world: World, code: str, **changes: Any) -> str:
    program: dict[str, Any] = admin_post(
        world, "/v1/programs", {**PROGRAM, "code": code, **changes}
    )
    return str(program["id"])


def new_issuer(world: World, name: str, programs: list[str]) -> tuple[str, dict[str, str]]:
    """Another organisation and its issuer's headers."""
    organisation = admin_post(
        world, "/v1/organisations", {"name": name, "kind": "mairie", "programs": programs}
    )
    key = admin_post(
        world, "/v1/api-keys", {"role": "issuer", "organisation_id": organisation["id"]}
    )
    return organisation["id"], {"Authorization": f"Bearer {key['key']}"}


def issue(world: World, headers: dict[str, str], reference: str, **body: Any) -> dict[str, Any]:
    response = world.client.post(
        "/v1/booklets",
        json={"program_id": world.program_id, "beneficiary_ref": reference, "size": 2, **body},
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 201, response.json
    booklet: dict[str, Any] = response.json
    return booklet


def every_page(world: World, path: str, headers: dict[str, str], schema: str) -> list[Any]:
    """Every item of a list, followed page by page; each page checked against its schema."""
    items: list[Any] = []
    cursor = None
    separator = "&" if "?" in path else "?"
    for _ in range(100):
        url = path + (f"{separator}cursor={cursor}" if cursor else "")
        response = world.client.get(url, headers=headers)
        assert response.status_code == 200, response.json
        assert_matches(schema, response.json)
        items += response.json["items"]
        cursor = response.json["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the cursor never ended")


# Programmes


def test_programmes_are_listed_a_page_at_a_time_with_their_figures(world: World) -> None:
    created = [world.program_id] + [new_program(world, f"P{n}") for n in range(3)]
    for role in ("admin", "auditor"):
        items = every_page(world, "/v1/programs?limit=2", world.headers(role), "program-page")
        assert [item["id"] for item in items] == created
    first = world.client.get("/v1/programs?limit=1", headers=world.headers("admin")).json
    assert first["items"][0]["figures"]["available_cents"] == PROGRAM["budget_cents"]
    assert first["next_cursor"] is not None


def test_an_issuer_lists_only_the_programmes_its_organisation_distributes(world: World) -> None:
    other = new_program(world, "OTHER")
    items = every_page(world, "/v1/programs", world.headers("issuer"), "program-page")
    assert [item["id"] for item in items] == [world.program_id]
    _, headers = new_issuer(world, "Mairie de Saint-Junien", [other])
    items = every_page(world, "/v1/programs", headers, "program-page")
    assert [item["id"] for item in items] == [other]
    refused = world.client.get("/v1/programs", headers=world.headers("partner"))
    assert refused.status_code == 403


@pytest.mark.parametrize("path", ["/v1/programs", "/v1/organisations", "/v1/booklets"])
@pytest.mark.parametrize("query", ["cursor=nonsense", "cursor=", "limit=0", "limit=501"])
def test_a_list_refuses_a_cursor_it_did_not_give_and_a_limit_out_of_range(
    world: World, path: str, query: str
) -> None:
    response = world.client.get(f"{path}?{query}", headers=world.headers("admin"))
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"


# Organisations


def test_organisations_are_listed_for_the_admin_only(world: World) -> None:
    second, _ = new_issuer(world, "Mairie d'Aixe", [])
    third, _ = new_issuer(world, "Emmaüs Limoges", [world.program_id])
    items = every_page(
        world, "/v1/organisations?limit=1", world.headers("admin"), "organisation-page"
    )
    assert [item["id"] for item in items] == [world.organisation_id, second, third]
    assert items[2]["programs"] == [world.program_id] and items[1]["programs"] == []
    for role in ("issuer", "auditor", "partner"):
        assert world.client.get("/v1/organisations", headers=world.headers(role)).status_code == 403


def test_an_organisation_is_read_by_the_admin_and_by_its_own_issuers(world: World) -> None:
    other, other_issuer = new_issuer(world, "Mairie d'Aixe", [])
    path = f"/v1/organisations/{world.organisation_id}"
    for headers in (world.headers("admin"), world.headers("issuer")):
        response = world.client.get(path, headers=headers)
        assert response.status_code == 200
        assert_matches("organisation", response.json)
        assert response.json["programs"] == [world.program_id]
    assert world.client.get(path, headers=other_issuer).status_code == 404
    assert world.client.get(f"/v1/organisations/{other}", headers=other_issuer).status_code == 200
    missing = world.client.get(f"/v1/organisations/{uuid.uuid4()}", headers=world.headers("admin"))
    assert missing.status_code == 404


def test_adding_a_programme_to_an_organisation_twice_adds_it_once(world: World) -> None:
    second = new_program(world, "SECOND")
    path = f"/v1/organisations/{world.organisation_id}/programs"
    for _ in range(2):
        response = world.client.post(
            path, json={"program_id": second}, headers=world.headers("admin")
        )
        assert response.status_code == 200, response.json
        assert_matches("organisation", response.json)
        assert response.json["id"] == world.organisation_id
        assert response.json["programs"] == sorted([world.program_id, second])
    # The organisation's issuers hand it out from now on.
    assert (
        issue(world, world.headers("issuer"), "case-9", program_id=second)["program_id"] == second
    )


@pytest.mark.parametrize(
    ("organisation", "program", "role", "status"),
    [
        ("unknown", "known", "admin", 404),
        ("known", "unknown", "admin", 404),
        ("known", "known", "issuer", 403),
        ("known", "malformed", "admin", 400),
    ],
)
def test_adding_a_programme_names_an_existing_organisation_and_programme(
    world: World, organisation: str, program: str, role: str, status: int
) -> None:
    organisation_id = world.organisation_id if organisation == "known" else str(uuid.uuid4())
    program_id = {"known": world.program_id, "unknown": str(uuid.uuid4())}.get(program, "P-1")
    response = world.client.post(
        f"/v1/organisations/{organisation_id}/programs",
        json={"program_id": program_id},
        headers=world.headers(role),
    )
    assert response.status_code == status, response.json
    assert response.headers["Content-Type"] == "application/problem+json"


# Booklets


def test_booklets_are_listed_a_page_at_a_time_without_codes_or_tokens(world: World) -> None:
    booklets = [issue(world, world.headers("issuer"), f"case-{n}") for n in range(3)]
    world.redeem(token=booklets[0]["vouchers"][0]["token"])
    response = world.client.get("/v1/booklets?limit=2", headers=world.headers("issuer"))
    for forbidden in ("token", "code", "qr_content", "beneficiary", "vouchers"):
        assert forbidden not in response.text
    items = every_page(world, "/v1/booklets?limit=2", world.headers("issuer"), "booklet-page")
    assert [item["id"] for item in items] == [b["id"] for b in booklets]
    assert items[0] == {
        "id": booklets[0]["id"],
        "program_id": world.program_id,
        "organisation_id": world.organisation_id,
        "issued_at": booklets[0]["issued_at"],
        "size": 2,
        "statuses": {"issued": 1, "redeemed": 1, "cancelled": 0, "expired": 0},
    }
    assert items[1]["statuses"]["issued"] == 2


def test_an_issuer_never_sees_another_organisations_booklets(world: World) -> None:
    other, other_issuer = new_issuer(world, "Mairie d'Aixe", [world.program_id])
    mine = issue(world, world.headers("issuer"), "case-1")
    theirs = issue(world, other_issuer, "case-1")
    for headers, expected in ((world.headers("issuer"), mine), (other_issuer, theirs)):
        items = every_page(world, "/v1/booklets", headers, "booklet-page")
        assert [item["id"] for item in items] == [expected["id"]]
    foreign = world.client.get(
        f"/v1/booklets?organisation_id={other}", headers=world.headers("issuer")
    )
    assert foreign.status_code == 403
    everything = every_page(world, "/v1/booklets", world.headers("admin"), "booklet-page")
    assert {item["id"] for item in everything} == {mine["id"], theirs["id"]}
    only_theirs = every_page(
        world, f"/v1/booklets?organisation_id={other}", world.headers("admin"), "booklet-page"
    )
    assert [item["id"] for item in only_theirs] == [theirs["id"]]
    for role in ("partner", "auditor"):
        assert world.client.get("/v1/booklets", headers=world.headers(role)).status_code == 403


@pytest.mark.parametrize(
    "asked",
    # as issued; spaced; with a Unicode hyphen; with a zero-width space; in full-width letters
    ["DOSSIER-42", " dossier-42 ", "Dossier\u201042", "dos\u200bsier-42", "ＤＯＳＳＩＥＲ-42"],
)
def test_a_persons_booklets_are_found_by_their_case_reference_however_it_is_typed(
    world: World, asked: str
) -> None:
    first = issue(world, world.headers("issuer"), "dossier-42")
    issue(world, world.headers("issuer"), "dossier-43")
    second = issue(world, world.headers("issuer"), "DOSSIER-42")
    _, other_issuer = new_issuer(world, "Mairie d'Aixe", [world.program_id])
    issue(world, other_issuer, "dossier-42")  # another organisation's dossier 42: someone else
    found = every_page(
        world,
        f"/v1/booklets?beneficiary_ref={quote(asked)}",
        world.headers("issuer"),
        "booklet-page",
    )
    assert [item["id"] for item in found] == [first["id"], second["id"]]


def test_a_reference_nobody_holds_finds_nothing_and_an_empty_one_is_refused(
    world: World,
) -> None:
    issue(world, world.headers("issuer"), "dossier-42")
    nobody = world.client.get(
        "/v1/booklets?beneficiary_ref=dossier-44", headers=world.headers("issuer")
    )
    assert nobody.json == {"items": [], "next_cursor": None}
    empty = world.client.get("/v1/booklets?beneficiary_ref=%20", headers=world.headers("issuer"))
    assert empty.status_code == 400


def test_the_admin_finds_a_persons_booklets_within_the_organisation_it_names(
    world: World,
) -> None:
    booklet = issue(world, world.headers("issuer"), "dossier-42")
    unscoped = world.client.get(
        "/v1/booklets?beneficiary_ref=dossier-42", headers=world.headers("admin")
    )
    assert unscoped.status_code == 400
    assert unscoped.json["errors"][0]["path"] == "organisation_id"
    found = world.client.get(
        f"/v1/booklets?beneficiary_ref=dossier-42&organisation_id={world.organisation_id}",
        headers=world.headers("admin"),
    ).json
    assert [item["id"] for item in found["items"]] == [booklet["id"]]


def test_booklets_are_listed_by_programme(world: World) -> None:
    second = new_program(world, "SECOND")
    admin_post(world, f"/v1/organisations/{world.organisation_id}/programs", {"program_id": second})
    issue(world, world.headers("issuer"), "case-1")
    theirs = issue(world, world.headers("issuer"), "case-1", program_id=second)
    found = every_page(
        world, f"/v1/booklets?program_id={second}", world.headers("issuer"), "booklet-page"
    )
    assert [item["id"] for item in found] == [theirs["id"]]


# Location on every 201


def test_every_creation_answers_201_with_the_location_of_the_new_resource(
    world: World,
) -> None:
    admin = world.headers("admin")
    creations: list[tuple[str, Any, str]] = [
        ("/v1/programs", {**PROGRAM, "code": "LOC2"}, "admin"),
        ("/v1/organisations", {"name": "CCAS d'Isle", "kind": "ccas", "programs": []}, "admin"),
        ("/v1/partners", {**PARTNER, "siret": "55208131766522"}, "admin"),
        ("/v1/api-keys", {"role": "auditor", "label": "located"}, "admin"),
    ]
    for path, body, role in creations:
        response = world.client.post(path, json=body, headers=world.headers(role))
        assert response.status_code == 201, (path, response.json)
        assert response.headers["Location"] == f"{path}/{response.json['id']}"
        shown = world.client.get(response.headers["Location"], headers=admin)
        assert shown.status_code == 200, path
        assert shown.json["id"] == response.json["id"]


def test_a_booklet_and_a_redemption_are_located_even_when_replayed(world: World) -> None:
    headers = world.headers("issuer", "located-booklet")
    body = {"program_id": world.program_id, "beneficiary_ref": "case-1"}
    for replayed in (False, True):
        booklet = world.client.post("/v1/booklets", json=body, headers=headers)
        assert booklet.status_code == 201
        assert booklet.headers.get("Idempotent-Replayed") == ("true" if replayed else None)
        assert booklet.headers["Location"] == f"/v1/booklets/{booklet.json['id']}"
    shown = world.client.get(booklet.headers["Location"], headers=world.headers("issuer"))
    assert shown.json["id"] == booklet.json["id"]
    token = booklet.json["vouchers"][0]["token"]
    for _ in range(2):
        redeemed = world.redeem(key="located-redemption", token=token)
        assert redeemed.status_code == 201
        assert redeemed.headers["Location"] == f"/v1/redemptions/{redeemed.json['id']}"
    for role in ("partner", "admin", "auditor"):
        shown = world.client.get(redeemed.headers["Location"], headers=world.headers(role))
        assert shown.status_code == 200, role
        assert shown.json == redeemed.json
        assert_matches("redemption", shown.json)


def test_a_redemption_is_not_shown_to_another_partner_nor_to_an_issuer(world: World) -> None:
    token = issue(world, world.headers("issuer"), "case-1")["vouchers"][0]["token"]
    location = world.redeem(token=token).headers["Location"]
    assert world.client.get(location, headers=world.headers("other_partner")).status_code == 404
    assert world.client.get(location, headers=world.headers("issuer")).status_code == 403
    missing = world.client.get(f"/v1/redemptions/{uuid.uuid4()}", headers=world.headers("admin"))
    assert missing.status_code == 404


def test_a_partner_reads_its_own_record_and_no_other(world: World) -> None:
    own = world.client.get(f"/v1/partners/{world.partner_id}", headers=world.headers("partner"))
    assert own.status_code == 200
    assert_matches("partner", own.json)
    assert own.json["programs"] == [world.program_id]
    other = f"/v1/partners/{world.other_partner_id}"
    assert world.client.get(other, headers=world.headers("partner")).status_code == 404
    assert world.client.get(other, headers=world.headers("issuer")).status_code == 403


def test_an_api_key_is_read_back_without_its_secret(world: World) -> None:
    made = world.client.post(
        "/v1/api-keys",
        json={"role": "auditor", "label": "read back"},
        headers=world.headers("admin"),
    )
    shown = world.client.get(made.headers["Location"], headers=world.headers("admin"))
    assert shown.status_code == 200
    assert_matches("api-key-record", shown.json)
    assert made.json["key"] not in shown.text
    assert shown.json["label"] == "read back" and shown.json["revoked_at"] is None


# Dates: a date alone is a day in Paris


@pytest.mark.parametrize(
    ("valid_from", "valid_until", "stored_from", "stored_until"),
    [
        # Winter: Paris is UTC+1; valid until the end of 1 January, the instant 2 January begins.
        ("2026-12-01", "2027-01-01", "2026-11-30T23:00:00Z", "2027-01-01T23:00:00Z"),
        # Summer: UTC+2; the clocks went forward on 29 March 2026, after its midnight.
        ("2026-03-29", "2026-07-14", "2026-03-28T23:00:00Z", "2026-07-14T22:00:00Z"),
        # The end of the day the clocks go back (25 October 2026) is a midnight in winter time.
        ("2026-10-25", "2026-10-25", "2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z"),
        # RFC 3339 times are taken as they are.
        ("2026-12-01T08:00:00+01:00", "2027-01-01T00:00:00Z", "2026-12-01T07:00:00Z", None),
    ],
)
def test_a_programmes_dates_may_be_days_in_paris(
    world: World,
    valid_from: str,
    valid_until: str,
    stored_from: str,
    stored_until: str | None,
) -> None:
    created = admin_post(
        world,
        "/v1/programs",
        {**PROGRAM, "code": "DAYS", "valid_from": valid_from, "valid_until": valid_until},
    )
    assert created["valid_from"] == stored_from
    assert created["valid_until"] == (stored_until or valid_until)
    shown = world.client.get(f"/v1/programs/{created['id']}", headers=world.headers("admin"))
    assert shown.json["valid_until"] == created["valid_until"]


@pytest.mark.parametrize("value", ["tomorrow", "2027-13-45", "01/01/2027", "2027-1-1", "20270101"])
def test_a_malformed_date_is_refused_in_words_never_with_a_regular_expression(
    world: World, value: str
) -> None:
    response = world.client.post(
        "/v1/programs",
        json={**PROGRAM, "code": "BAD", "valid_until": value},
        headers=world.headers("admin"),
    )
    assert response.status_code == 400
    [error] = response.json["errors"]
    assert error["path"] == "/valid_until"
    assert "date" in error["message"] and "RFC 3339" in error["message"]
    for internal in ("^", "\\", "$", "[", "{", "pattern"):
        assert internal not in error["message"] + response.json["detail"]


def test_query_dates_are_days_in_paris(world: World, clock: Clock) -> None:
    # 23:30 UTC on 27 November is half past midnight on the 28th in Paris.
    clock.current = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
    token = issue(world, world.headers("issuer"), "case-1")["vouchers"][0]["token"]
    redeemed = world.redeem(token=token).json["id"]

    def found(query: str) -> list[str]:
        response = world.client.get(f"/v1/redemptions?{query}", headers=world.headers("auditor"))
        assert response.status_code == 200, response.json
        return [item["id"] for item in response.json["items"]]

    assert found("from=2026-11-28") == [redeemed]
    assert found("from=2026-11-28&to=2026-11-28") == [redeemed]
    assert found("to=2026-11-27") == []
    assert found("from=2026-11-29") == []
    assert found("from=2026-11-27T23:00:00Z&to=2026-11-27T23:30:01Z") == [redeemed]
    refused = world.client.get("/v1/redemptions?from=27/11/2026", headers=world.headers("auditor"))
    assert refused.status_code == 400
    assert refused.json["errors"] == [
        {"path": "from", "message": refused.json["errors"][0]["message"]}
    ]
    assert "date" in refused.json["errors"][0]["message"]
