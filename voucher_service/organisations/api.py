"""Use cases of organisations: distributors and the programmes they hand out."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from voucher_service.errors import InvalidRequest
from voucher_service.organisations.models import Organisation, organisation_programs
from voucher_service.programs.models import Program


def create_organisation(
    session: Session, name: str, kind: str, program_ids: list[str], now: datetime
) -> Organisation:
    ensure_programs_exist(session, program_ids)
    organisation = Organisation(name=name, kind=kind, created_at=now)
    session.add(organisation)
    session.flush()
    if program_ids:
        session.execute(
            insert(organisation_programs),
            [{"organisation_id": organisation.id, "program_id": p} for p in set(program_ids)],
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
