"""Use cases of organisations: distributors and the programmes they hand out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from voucher_service.clock import rfc3339
from voucher_service.db import Database
from voucher_service.errors import InvalidRequest
from voucher_service.organisations.models import Organisation, organisation_programs
from voucher_service.programs.models import Program


@dataclass(frozen=True)
class OrganisationInput:
    name: str
    kind: str
    programs: list[str]

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> OrganisationInput:
        """The organisation a body checked against `organisation-create.request` describes."""
        return cls(body["name"], body["kind"], body.get("programs", []))


def create_organisation(
    database: Database, data: OrganisationInput, now: datetime
) -> dict[str, Any]:
    """A new distributor, affiliated to the programmes it hands out, as the API shows it."""
    with database.atomic() as session:
        return organisation_view(session, add_organisation(session, data, now))


def add_organisation(session: Session, data: OrganisationInput, now: datetime) -> Organisation:
    ensure_programs_exist(session, data.programs)
    organisation = Organisation(name=data.name, kind=data.kind, created_at=now)
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
    return sorted(
        session.scalars(
            select(organisation_programs.c.program_id).where(
                organisation_programs.c.organisation_id == organisation_id
            )
        )
    )


def organisation_view(session: Session, organisation: Organisation) -> dict[str, Any]:
    return {
        "id": organisation.id,
        "name": organisation.name,
        "kind": organisation.kind,
        "programs": organisation_program_ids(session, organisation.id),
        "created_at": rfc3339(organisation.created_at),
    }
