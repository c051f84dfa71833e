"""Use cases of organisations: distributors and the programmes they hand out."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from voucher_service.auth.api import Principal
from voucher_service.clock import rfc3339
from voucher_service.db import Database
from voucher_service.errors import InvalidRequest, NotFound
from voucher_service.organisations.models import Organisation, organisation_programs
from voucher_service.pagination import page_of
from voucher_service.programs.models import Program

# Where an organisation receives people: the booklet's letter lists the venues nearest to it
# when the issuer names no other place.
LOCATION = ("address", "postcode", "latitude", "longitude")


@dataclass(frozen=True)
class OrganisationInput:
    name: str
    kind: str
    programs: list[str]
    address: str | None = None
    postcode: str | None = None
    latitude: float | None = None
    longitude: float | None = None

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> OrganisationInput:
        """The organisation a body checked against `organisation-create.request` describes."""
        location = {field: body.get(field) for field in LOCATION}
        return cls(body["name"], body["kind"], body.get("programs", []), **location)


def create_organisation(
    database: Database, data: OrganisationInput, now: datetime
) -> dict[str, Any]:
    """A new distributor, affiliated to the programmes it hands out, as the API shows it."""
    with database.atomic() as session:
        return organisation_view(session, add_organisation(session, data, now))


def get_organisation(
    database: Database, principal: Principal, organisation_id: str
) -> dict[str, Any]:
    """An organisation; an issuer sees its own only (the others, not found)."""
    with database.read() as session:
        organisation = session.get(Organisation, organisation_id)
        if organisation is None or not principal.sees_organisation(organisation.id):
            raise NotFound(f"no organisation {organisation_id}")
        return organisation_view(session, organisation)


def update_organisation(
    database: Database, organisation_id: str, changes: dict[str, Any]
) -> dict[str, Any]:
    """The organisation with what `changes` (checked against `organisation-update.request`)
    names replaced; a place is both its latitude and its longitude, or neither."""
    with database.atomic() as session:
        organisation = session.get(Organisation, organisation_id, with_for_update=True)
        if organisation is None:
            raise NotFound(f"no organisation {organisation_id}")
        for field in ("name", "kind", *LOCATION):
            if field in changes:
                setattr(organisation, field, changes[field])
        if (organisation.latitude is None) != (organisation.longitude is None):
            raise InvalidRequest(
                "a place is both a latitude and a longitude, or neither",
                [{"path": "/latitude", "message": "give latitude and longitude together"}],
            )
        return organisation_view(session, organisation)


def list_organisations(database: Database, limit: int, cursor: str | None) -> dict[str, Any]:
    """Every organisation, oldest first, a page at a time."""
    with database.read() as session:
        page, next_cursor = page_of(
            session, select(Organisation), Organisation.created_at, Organisation.id, limit, cursor
        )
        programs = programs_by_organisation(session, [o.id for o in page])
        return {
            "items": [_view(o, programs[o.id]) for o in page],
            "next_cursor": next_cursor,
        }


def add_program_to_organisation(
    database: Database, organisation_id: str, program_id: str
) -> dict[str, Any]:
    """The organisation now distributes the programme too; adding it again changes nothing."""
    with database.atomic() as session:
        organisation = session.get(Organisation, organisation_id)
        if organisation is None:
            raise NotFound(f"no organisation {organisation_id}")
        if session.get(Program, program_id) is None:
            raise NotFound(f"no programme {program_id}")
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        # A concurrent identical request meets the primary key: nothing twice, no error.
        session.execute(
            dialect.insert(organisation_programs)
            .values(organisation_id=organisation.id, program_id=program_id)
            .on_conflict_do_nothing()
        )
        return organisation_view(session, organisation)


def add_organisation(session: Session, data: OrganisationInput, now: datetime) -> Organisation:
    ensure_programs_exist(session, data.programs)
    location = {field: getattr(data, field) for field in LOCATION}
    organisation = Organisation(name=data.name, kind=data.kind, **location, created_at=now)
    session.add(organisation)
    session.flush()
    if data.programs:
        session.execute(
            insert(organisation_programs),
            [{"organisation_id": organisation.id, "program_id": p} for p in set(data.programs)],
        )
    return organisation


def ensure_programs_exist(session: Session, program_ids: list[str]) -> None:
    """Affiliations name existing programmes only."""
    wanted = set(program_ids)
    found = set(session.scalars(select(Program.id).where(Program.id.in_(wanted))))
    missing = sorted(wanted - found)
    if missing:
        raise InvalidRequest(
            "unknown programme",
            [{"path": "/programs", "message": f"no programme {p}"} for p in missing],
        )


def organisation_program_ids(session: Session, organisation_id: str) -> list[str]:
    return programs_by_organisation(session, [organisation_id])[organisation_id]


def programs_by_organisation(session: Session, organisation_ids: list[str]) -> dict[str, list[str]]:
    """The programmes each of these organisations distributes, in one query."""
    found: dict[str, list[str]] = defaultdict(list)
    rows = session.execute(
        select(organisation_programs.c.organisation_id, organisation_programs.c.program_id).where(
            organisation_programs.c.organisation_id.in_(organisation_ids)
        )
    )
    for organisation_id, program_id in rows:
        found[organisation_id].append(program_id)
    return {organisation_id: sorted(found[organisation_id]) for organisation_id in organisation_ids}


def organisation_view(session: Session, organisation: Organisation) -> dict[str, Any]:
    return _view(organisation, organisation_program_ids(session, organisation.id))


def _view(organisation: Organisation, programs: list[str]) -> dict[str, Any]:
    return {
        "id": organisation.id,
        "name": organisation.name,
        "kind": organisation.kind,
        **{field: getattr(organisation, field) for field in LOCATION},
        "programs": programs,
        "created_at": rfc3339(organisation.created_at),
    }
