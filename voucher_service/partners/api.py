"""Use cases of partners: qualify a venue, affiliate it, and find venues near a person."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from voucher_service.auth.api import Principal
from voucher_service.clock import rfc3339
from voucher_service.db import Database
from voucher_service.errors import Conflict, InvalidRequest, NotFound
from voucher_service.organisations.api import ensure_programs_exist
from voucher_service.partners.models import Partner, partner_programs
from voucher_service.partners.siret import is_valid_siret

EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class PartnerInput:
    siret: str
    name: str
    address: str
    postcode: str
    latitude: float
    longitude: float
    services: list[str]
    programs: list[str]

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> PartnerInput:
        """The venue a body checked against `partner-create.request` describes."""
        return cls(**{"programs": [], **body})


def create_partner(database: Database, data: PartnerInput, now: datetime) -> dict[str, Any]:
    """A qualified venue, affiliated to its programmes, as the API shows it."""
    with database.atomic() as session:
        partner = add_partner(session, data, now)
        return partner_view(partner, partner_program_ids(session, partner.id))


def get_partner(database: Database, principal: Principal, partner_id: str) -> dict[str, Any]:
    """A venue with its SIRET and programmes: for the admin, and for the venue itself (to
    another partner, not found)."""
    with database.read() as session:
        partner = session.get(Partner, partner_id)
        if partner is None or (principal.role == "partner" and principal.partner_id != partner.id):
            raise NotFound(f"no partner {partner_id}")
        return partner_view(partner, partner_program_ids(session, partner.id))


def add_partner(session: Session, data: PartnerInput, now: datetime) -> Partner:
    if not is_valid_siret(data.siret):
        raise InvalidRequest(
            "invalid SIRET",
            [{"path": "/siret", "message": "a SIRET is 14 digits with a valid Luhn checksum"}],
        )
    if session.scalar(select(Partner.id).where(Partner.siret == data.siret)) is not None:
        raise Conflict(f"a partner with SIRET {data.siret} exists already")
    ensure_programs_exist(session, data.programs)
    fields = {k: v for k, v in data.__dict__.items() if k != "programs"}
    partner = Partner(**fields, created_at=now)
    session.add(partner)
    try:
        session.flush()
    except IntegrityError:  # another request qualified the same SIRET a moment ago
        raise Conflict(f"a partner with SIRET {data.siret} exists already") from None
    if data.programs:
        session.execute(
            insert(partner_programs),
            [{"partner_id": partner.id, "program_id": p} for p in set(data.programs)],
        )
    return partner


def partner_program_ids(session: Session, partner_id: str) -> list[str]:
    return sorted(
        session.scalars(
            select(partner_programs.c.program_id).where(partner_programs.c.partner_id == partner_id)
        )
    )


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
    items = []
    with database.read() as session:
        for partner in session.scalars(_directory_query(near, radius_km, program_id)):
            if service is not None and service not in partner.services:
                continue
            distance = None
            if near is not None:
                distance = distance_km(near[0], near[1], partner.latitude, partner.longitude)
                if radius_km is not None and distance > radius_km:
                    continue
            items.append(directory_item(partner, distance))
    if near is not None:
        items.sort(key=lambda item: item["distance_km"])
    return items[:limit]


def _directory_query(
    near: tuple[float, float] | None, radius_km: float | None, program_id: str | None
) -> Select[Partner]:
    query = select(Partner)
    if program_id is not None:
        query = query.join(partner_programs).where(partner_programs.c.program_id == program_id)
    if near is not None and radius_km is not None:
        # A bounding box lets the database discard far venues before the exact distance.
        lat, lon = near
        dlat = radius_km / 111.0
        dlon = radius_km / max(1e-6, 111.0 * math.cos(math.radians(lat)))
        query = query.where(
            Partner.latitude.between(lat - dlat, lat + dlat),
            Partner.longitude.between(lon - dlon, lon + dlon),
        )
    return query.order_by(Partner.name, Partner.id)


def public_fields(partner: Partner) -> dict[str, Any]:
    """What anyone may know of a venue: where it is and what it offers."""
    return {
        "id": partner.id,
        "name": partner.name,
        "address": partner.address,
        "postcode": partner.postcode,
        "latitude": partner.latitude,
        "longitude": partner.longitude,
        "services": partner.services,
    }


def directory_item(partner: Partner, distance: float | None) -> dict[str, Any]:
    return {
        **public_fields(partner),
        "distance_km": None if distance is None else round(distance, 3),
    }


def partner_view(partner: Partner, programs: list[str]) -> dict[str, Any]:
    return {
        **public_fields(partner),
        "siret": partner.siret,
        "programs": programs,
        "created_at": rfc3339(partner.created_at),
    }
