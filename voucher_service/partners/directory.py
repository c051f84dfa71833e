"""The directory: where the affiliated venues are, nearest first, and the public map of them.

`nearest_venues` is the one nearest-venue search: the `GET /v1/partners?near=` route and the
booklet's cover letter both call it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from voucher_service.db import Database
from voucher_service.partners.models import Partner, partner_programs
from voucher_service.partners.opening_hours import OpeningHours

EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class DirectoryEntry:
    """A venue as anyone may see it; `distance_km` from the place asked about, if any."""

    id: str
    name: str
    address: str
    postcode: str
    latitude: float
    longitude: float
    services: tuple[str, ...]
    opening_hours: OpeningHours | None
    distance_km: float | None = None

    @classmethod
    def of(cls, partner: Partner, distance: float | None = None) -> DirectoryEntry:
        return cls(
            partner.id,
            partner.name,
            partner.address,
            partner.postcode,
            partner.latitude,
            partner.longitude,
            tuple(partner.services),
            partner.opening_hours,
            distance,
        )

    def directory_item(self) -> dict[str, Any]:
        """The entry as `GET /v1/partners` lists it."""
        distance = None if self.distance_km is None else round(self.distance_km, 3)
        return {**public_fields(self), "distance_km": distance}


def public_fields(venue: Partner | DirectoryEntry) -> dict[str, Any]:
    """What anyone may know of a venue: where it is, what it offers, when it opens."""
    return {
        "id": venue.id,
        "name": venue.name,
        "address": venue.address,
        "postcode": venue.postcode,
        "latitude": venue.latitude,
        "longitude": venue.longitude,
        "services": list(venue.services),
        "opening_hours": venue.opening_hours,
    }


def nearest_venues(
    session: Session,
    program_id: str | None,
    near: tuple[float, float],
    limit: int = 5,
    service: str | None = None,
    *,
    radius_km: float | None = None,
) -> list[DirectoryEntry]:
    """The venues affiliated to the programme (any venue when None) that offer `service`
    (any when None), within `radius_km` of `near` (LAT, LON in degrees; anywhere when None),
    nearest first, at most `limit` of them, each with its distance."""
    lat, lon = near
    box = None if radius_km is None else bounding_box(lat, lon, radius_km)
    found = [
        (distance_km(lat, lon, partner.latitude, partner.longitude), partner)
        for partner in directory_venues(session, program_id, service, box)
    ]
    nearby = sorted(
        ((d, p) for d, p in found if radius_km is None or d <= radius_km),
        key=lambda pair: (pair[0], pair[1].name, pair[1].id),
    )
    return [DirectoryEntry.of(partner, distance) for distance, partner in nearby[:limit]]


BoundingBox = tuple[float, float, float | None, float | None]


def directory_venues(
    session: Session,
    program_id: str | None,
    service: str | None,
    box: BoundingBox | None = None,
) -> list[Partner]:
    """The venues of the programme that offer the service, inside `box` if given, by name."""
    query = select(Partner)
    if program_id is not None:
        query = query.join(partner_programs).where(partner_programs.c.program_id == program_id)
    if box is not None:
        south, north, west, east = box
        query = query.where(Partner.latitude.between(south, north))
        if west is not None and east is not None:
            query = query.where(Partner.longitude.between(west, east))
    partners = session.scalars(query.order_by(Partner.name, Partner.id))
    # Services are a JSON list: filtered here, the same on SQLite and PostgreSQL.
    return [p for p in partners if service is None or service in p.services]


def bounding_box(lat: float, lon: float, radius_km: float) -> BoundingBox:
    """South, north, west, east around the place: lets the database discard far venues before
    the exact distance. No west and east when the box would cross the antimeridian or a
    pole (Wallis-et-Futuna is at 176° W)."""
    dlat = radius_km / 111.0
    dlon = radius_km / max(1e-6, 111.0 * math.cos(math.radians(lat)))
    if lon - dlon < -180 or lon + dlon > 180:
        return lat - dlat, lat + dlat, None, None
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def find_partners(
    database: Database,
    near: tuple[float, float] | None,
    radius_km: float | None,
    program_id: str | None,
    service: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """The directory: nearest first when a place is given (within `radius_km` of it), by name
    otherwise."""
    with database.read() as session:
        if near is None:
            venues = directory_venues(session, program_id, service)[:limit]
            entries = [DirectoryEntry.of(partner) for partner in venues]
        else:
            entries = nearest_venues(session, program_id, near, limit, service, radius_km=radius_km)
    return [entry.directory_item() for entry in entries]


def partner_map(database: Database, program_id: str | None, service: str | None) -> dict[str, Any]:
    """The directory as a GeoJSON FeatureCollection (RFC 7946): a Point per venue, by name."""
    with database.read() as session:
        venues = directory_venues(session, program_id, service)
        programs = programs_by_partner(session)
    return {
        "type": "FeatureCollection",
        "features": [_feature(partner, programs[partner.id]) for partner in venues],
    }


def _feature(partner: Partner, programs: list[str]) -> dict[str, Any]:
    place = public_fields(partner)
    lat, lon = place.pop("latitude"), place.pop("longitude")
    return {
        "type": "Feature",
        "id": partner.id,
        # RFC 7946 §3.1.1: longitude first.
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {**place, "programs": programs},
    }


def programs_by_partner(session: Session) -> defaultdict[str, list[str]]:
    """Every venue's programmes, in one query: the whole table (venues × programmes is small)
    rather than a list of ids that could outgrow a statement's parameters."""
    found: defaultdict[str, list[str]] = defaultdict(list)
    rows = session.execute(
        select(partner_programs.c.partner_id, partner_programs.c.program_id).order_by(
            partner_programs.c.partner_id, partner_programs.c.program_id
        )
    )
    for partner_id, program_id in rows:
        found[partner_id].append(program_id)
    return found
