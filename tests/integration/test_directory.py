"""The directory (CONTRACT §8): the public GeoJSON map, venues kept up to date by the admin,
organisations' locations, and the one nearest-venue search everyone shares."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import PARTNER, World
from voucher_service.db import Database
from voucher_service.partners.directory import nearest_venues
from voucher_service.schemas import validator

HOURS = {"mo": [["09:00", "12:00"], ["14:00", "18:00"]], "sa": [["09:00", "12:30"]]}
PAPEETE = {
    **PARTNER,
    "siret": "35600000000001",
    "name": "Fare Numérique Papeete",
    "address": "Rue du Commandant Destremeau, Papeete",
    "postcode": "98714",
    "latitude": -17.5350,
    "longitude": -149.5696,
    "services": ["demarches-en-ligne"],
}


def geojson(client: FlaskClient, query: str = "") -> Any:
    response = client.get(f"/v1/partners.geojson{query}")
    assert response.status_code == 200, response.json
    return response


def names(document: dict[str, Any]) -> list[str]:
    return [feature["properties"]["name"] for feature in document["features"]]


def patch_partner(world: World, partner_id: str, body: Any, role: str = "admin") -> Any:
    return world.client.patch(f"/v1/partners/{partner_id}", json=body, headers=world.headers(role))


def database_of(world: World) -> Database:
    database: Database = world.client.application.extensions["voucher_service"].database
    return database


# The public map


def test_the_directory_map_is_public_cacheable_geojson(world: World) -> None:
    response = geojson(world.client)
    assert response.mimetype == "application/geo+json"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    document = response.get_json(force=True)
    assert list(validator("partner-map").iter_errors(document)) == []
    assert document["type"] == "FeatureCollection"
    assert names(document) == ["Clic Saint-Junien", "Médiathèque francophone"]


def test_a_feature_places_the_venue_at_longitude_then_latitude(world: World) -> None:
    admin = world.headers("admin")
    created = world.client.post("/v1/partners", json=PAPEETE, headers=admin)
    assert created.status_code == 201, created.json
    document = geojson(world.client).get_json(force=True)
    # -149.57 is no latitude: the schema refuses the document if the order is swapped.
    assert list(validator("partner-map").iter_errors(document)) == []
    papeete = next(f for f in document["features"] if f["id"] == created.json["id"])
    assert papeete["geometry"] == {"type": "Point", "coordinates": [-149.5696, -17.535]}


def test_a_feature_shows_what_a_person_needs_and_nothing_private(world: World) -> None:
    patch_partner(world, world.partner_id, {"opening_hours": HOURS})
    document = geojson(world.client).get_json(force=True)
    feature = next(f for f in document["features"] if f["id"] == world.partner_id)
    assert feature["properties"] == {
        "id": world.partner_id,
        "name": "Médiathèque francophone",
        "address": "2 place Aimé Césaire, Limoges",
        "postcode": "87000",
        "services": ["atelier-ordinateur"],
        "opening_hours": HOURS,
        "programs": [world.program_id],
    }
    assert "73282932000074" not in str(document)  # the SIRET is for the admin


def test_the_map_filters_by_programme_and_by_service(world: World) -> None:
    by_programme = geojson(world.client, f"?program_id={world.program_id}").get_json(force=True)
    assert names(by_programme) == ["Médiathèque francophone"]
    by_service = geojson(world.client, "?service=atelier-smartphone").get_json(force=True)
    assert names(by_service) == ["Clic Saint-Junien"]
    both = geojson(world.client, f"?program_id={world.program_id}&service=atelier-smartphone")
    assert both.get_json(force=True)["features"] == []


def test_a_malformed_map_filter_is_refused(world: World) -> None:
    response = world.client.get(f"/v1/partners.geojson?program_id={'x' * 37}")
    assert response.status_code == 400
    assert response.json["errors"][0]["path"] == "program_id"


# Keeping a venue up to date


def test_an_admin_changes_only_what_the_patch_names(world: World) -> None:
    response = patch_partner(
        world, world.partner_id, {"name": "Médiathèque Césaire", "opening_hours": HOURS}
    )
    assert response.status_code == 200, response.json
    assert list(validator("partner").iter_errors(response.json)) == []
    assert response.json["name"] == "Médiathèque Césaire"
    assert response.json["opening_hours"] == HOURS
    assert response.json["address"] == PARTNER["address"]
    assert response.json["siret"] == PARTNER["siret"]
    assert response.json["programs"] == [world.program_id]
    again = world.client.get(f"/v1/partners/{world.partner_id}", headers=world.headers("admin"))
    assert again.json == response.json


def test_a_patch_moves_a_venue_and_replaces_its_programmes(world: World) -> None:
    moved = patch_partner(
        world,
        world.other_partner_id,
        {"latitude": 45.83, "longitude": 1.26, "programs": [world.program_id]},
    )
    assert moved.status_code == 200, moved.json
    assert (moved.json["latitude"], moved.json["longitude"]) == (45.83, 1.26)
    assert moved.json["programs"] == [world.program_id]
    left = patch_partner(world, world.partner_id, {"programs": []})
    assert left.json["programs"] == []
    document = geojson(world.client, f"?program_id={world.program_id}").get_json(force=True)
    assert names(document) == ["Clic Saint-Junien"]


def test_opening_hours_can_be_cleared(world: World) -> None:
    patch_partner(world, world.partner_id, {"opening_hours": HOURS})
    cleared = patch_partner(world, world.partner_id, {"opening_hours": None})
    assert cleared.status_code == 200
    assert cleared.json["opening_hours"] is None


@pytest.mark.parametrize(
    ("hours", "path"),
    [
        ({"mo": [["14:00", "18:00"], ["09:00", "12:00"]]}, "/opening_hours/mo/1"),
        ({"mo": [["09:00", "12:00"], ["11:00", "18:00"]]}, "/opening_hours/mo/1"),
        ({"tu": [["18:00", "09:00"]]}, "/opening_hours/tu/0"),
        ({"we": [["09:00", "09:00"]]}, "/opening_hours/we/0"),
        ({"th": [["9:00", "12:00"]]}, "/opening_hours/th/0/0"),
        ({"fr": [["09:00", "24:30"]]}, "/opening_hours/fr/0/1"),
        ({"sa": [["09:00"]]}, "/opening_hours/sa/0"),
        ({"monday": [["09:00", "12:00"]]}, "/opening_hours"),
        ("Mo-Fr 09:00-18:00", "/opening_hours"),
    ],
)
def test_bad_opening_hours_are_refused_with_the_faulty_interval(
    world: World, hours: Any, path: str
) -> None:
    response = patch_partner(world, world.partner_id, {"opening_hours": hours})
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert any(error["path"] == path for error in response.json["errors"]), response.json


def test_hours_that_touch_or_end_at_midnight_are_accepted(world: World) -> None:
    hours = {"fr": [["09:00", "12:00"], ["12:00", "14:00"], ["20:00", "24:00"]], "su": []}
    response = patch_partner(world, world.partner_id, {"opening_hours": hours})
    assert response.status_code == 200, response.json
    assert response.json["opening_hours"] == hours


@pytest.mark.parametrize(
    "body",
    [
        {"siret": "44306184100047"},
        {"created_at": "2026-01-01T00:00:00Z"},
        {"colour": "blue"},
        {},
        {"latitude": 91},
        {"name": None},
        {"programs": ["00000000-0000-0000-0000-000000000000"]},
    ],
)
def test_a_patch_of_unknown_or_bad_fields_is_refused(world: World, body: Any) -> None:
    response = patch_partner(world, world.partner_id, body)
    assert response.status_code == 400, body
    unchanged = world.client.get(f"/v1/partners/{world.partner_id}", headers=world.headers("admin"))
    assert unchanged.json["name"] == PARTNER["name"]


def test_a_patch_of_an_unknown_venue_is_not_found(world: World) -> None:
    response = patch_partner(world, "00000000-0000-0000-0000-000000000000", {"name": "X"})
    assert response.status_code == 404


@pytest.mark.parametrize("role", ["issuer", "partner", "auditor"])
def test_only_the_admin_changes_a_venue(world: World, role: str) -> None:
    assert patch_partner(world, world.partner_id, {"name": "X"}, role).status_code == 403
    anonymous = world.client.patch(f"/v1/partners/{world.partner_id}", json={"name": "X"})
    assert anonymous.status_code == 401


def test_a_venue_may_be_qualified_with_its_opening_hours(world: World) -> None:
    response = world.client.post(
        "/v1/partners", json={**PAPEETE, "opening_hours": HOURS}, headers=world.headers("admin")
    )
    assert response.status_code == 201, response.json
    assert response.json["opening_hours"] == HOURS
    bad = {**PAPEETE, "siret": "35600000000006", "opening_hours": {"mo": [["12:00", "09:00"]]}}
    refused = world.client.post("/v1/partners", json=bad, headers=world.headers("admin"))
    assert refused.status_code == 400
    assert refused.json["errors"][0]["path"] == "/opening_hours/mo/0"


# Where an organisation is

LOCATION = {
    "address": "Place Léon Betoulle, Limoges",
    "postcode": "87000",
    "latitude": 45.8297,
    "longitude": 1.2600,
}


def test_an_organisation_keeps_its_location(world: World) -> None:
    admin = world.headers("admin")
    created = world.client.post(
        "/v1/organisations", json={"name": "Mairie", "kind": "mairie", **LOCATION}, headers=admin
    )
    assert created.status_code == 201, created.json
    assert list(validator("organisation").iter_errors(created.json)) == []
    shown = world.client.get(f"/v1/organisations/{created.json['id']}", headers=admin).json
    assert {key: shown[key] for key in LOCATION} == LOCATION


def test_an_organisation_without_a_location_says_so(world: World) -> None:
    shown = world.client.get(
        f"/v1/organisations/{world.organisation_id}", headers=world.headers("issuer")
    ).json
    assert {key: shown[key] for key in LOCATION} == dict.fromkeys(LOCATION)


def test_an_admin_sets_moves_and_clears_an_organisations_location(world: World) -> None:
    path, admin = f"/v1/organisations/{world.organisation_id}", world.headers("admin")
    located = world.client.patch(path, json=LOCATION, headers=admin)
    assert located.status_code == 200, located.json
    assert {key: located.json[key] for key in LOCATION} == LOCATION
    assert located.json["name"] == "CCAS de Limoges"
    assert located.json["programs"] == [world.program_id]
    renamed = world.client.patch(path, json={"name": "CCAS Limoges"}, headers=admin).json
    assert (renamed["name"], renamed["latitude"]) == ("CCAS Limoges", 45.8297)
    cleared = world.client.patch(
        path, json={"latitude": None, "longitude": None}, headers=admin
    ).json
    assert (cleared["latitude"], cleared["longitude"], cleared["postcode"]) == (None, None, "87000")
    listed = world.client.get("/v1/organisations", headers=admin).json["items"]
    assert listed[0]["postcode"] == "87000"


@pytest.mark.parametrize(
    "body",
    [
        {"latitude": 45.8},  # half a place
        {"latitude": 45.8, "longitude": None},
        {"programs": []},  # affiliations have their own route
        {"postcode": "8700"},
        {"name": None},
        {},
    ],
)
def test_a_bad_organisation_patch_is_refused(world: World, body: Any) -> None:
    response = world.client.patch(
        f"/v1/organisations/{world.organisation_id}", json=body, headers=world.headers("admin")
    )
    assert response.status_code == 400, body


def test_an_organisation_is_created_with_a_whole_place_or_none(world: World) -> None:
    response = world.client.post(
        "/v1/organisations",
        json={"name": "Mairie", "kind": "mairie", "latitude": 45.8},
        headers=world.headers("admin"),
    )
    assert response.status_code == 400


def test_only_the_admin_changes_an_organisation(world: World) -> None:
    path = f"/v1/organisations/{world.organisation_id}"
    issuer = world.client.patch(path, json=LOCATION, headers=world.headers("issuer"))
    assert issuer.status_code == 403
    unknown = world.client.patch(
        "/v1/organisations/00000000-0000-0000-0000-000000000000",
        json=LOCATION,
        headers=world.headers("admin"),
    )
    assert unknown.status_code == 404


# The nearest venues, one search for the directory and the booklet's letter

SAINT_JUNIEN = (45.887, 0.901)


def affiliate_both(world: World) -> None:
    patch_partner(world, world.other_partner_id, {"programs": [world.program_id]})


def test_nearest_venues_are_the_programmes_nearest_first_with_their_distance(
    world: World,
) -> None:
    affiliate_both(world)
    with database_of(world).read() as session:
        venues = nearest_venues(session, world.program_id, SAINT_JUNIEN)
    assert [venue.name for venue in venues] == ["Clic Saint-Junien", "Médiathèque francophone"]
    assert venues[0].distance_km < 1 < 25 < venues[1].distance_km < 35
    assert venues[1].services == ("atelier-ordinateur",)


def test_nearest_venues_keep_to_the_programme_the_limit_and_the_service(world: World) -> None:
    with database_of(world).read() as session:
        only_affiliated = nearest_venues(session, world.program_id, SAINT_JUNIEN)
    assert [venue.id for venue in only_affiliated] == [world.partner_id]
    affiliate_both(world)
    with database_of(world).read() as session:
        one = nearest_venues(session, world.program_id, SAINT_JUNIEN, limit=1)
        smartphones = nearest_venues(
            session, world.program_id, (45.83, 1.25), service="atelier-smartphone"
        )
        other_programme = nearest_venues(
            session, "00000000-0000-0000-0000-000000000000", SAINT_JUNIEN
        )
    assert [venue.name for venue in one] == ["Clic Saint-Junien"]
    assert [venue.name for venue in smartphones] == ["Clic Saint-Junien"]
    assert other_programme == []


def test_nearest_venues_carry_opening_hours_for_the_letter(world: World) -> None:
    patch_partner(world, world.partner_id, {"opening_hours": HOURS})
    with database_of(world).read() as session:
        (venue,) = nearest_venues(session, world.program_id, SAINT_JUNIEN)
    assert venue.opening_hours == HOURS


def test_the_directory_route_shows_opening_hours_nearest_first(world: World) -> None:
    affiliate_both(world)
    patch_partner(world, world.partner_id, {"opening_hours": HOURS})
    items = world.client.get(
        f"/v1/partners?near=45.83,1.25&program_id={world.program_id}&limit=1",
        headers=world.headers("issuer"),
    ).json["items"]
    assert [(item["name"], item["opening_hours"]) for item in items] == [
        ("Médiathèque francophone", HOURS)
    ]
    assert list(validator("partner-directory").iter_errors({"items": items})) == []
