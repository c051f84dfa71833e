"""Use cases of programmes: create one (allocating its budget), show and list them with their
figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from voucher_service.auth.api import Principal
from voucher_service.clock import parse_time, rfc3339
from voucher_service.db import Database
from voucher_service.errors import Conflict, InvalidRequest, NotFound
from voucher_service.ledger import kinds
from voucher_service.ledger.writes import write_transfer
from voucher_service.organisations.api import organisation_program_ids
from voucher_service.organisations.models import organisation_programs
from voucher_service.pagination import page_of
from voucher_service.programs.figures import program_figures, programs_figures
from voucher_service.programs.models import Program


@dataclass(frozen=True)
class ProgramInput:
    code: str
    name: str
    funder: str
    budget_cents: int
    face_value_cents: int
    currency: str
    booklet_size: int
    valid_from: datetime
    valid_until: datetime
    voucher_validity_days: int
    max_vouchers_per_beneficiary: int
    territory: list[str]

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> ProgramInput:
        """The programme a body checked against `program-create.request` describes."""
        return cls(
            **{
                **body,
                # A date alone: from the start of that day, until the end of that day (Paris).
                "valid_from": parse_time(body["valid_from"], "/valid_from"),
                "valid_until": parse_time(body["valid_until"], "/valid_until", day_end=True),
            }
        )


def create_program(database: Database, data: ProgramInput, now: datetime) -> dict[str, Any]:
    """A new programme with its budget allocated, shown with its figures."""
    with database.atomic() as session:
        program = add_program(session, data, now)
        return program_view(program, program_figures(session, program.id))


def get_program(database: Database, principal: Principal, program_id: str) -> dict[str, Any]:
    """A programme and its figures, as far as the caller may see it."""
    with database.read() as session:
        program = load_program(session, program_id)
        ensure_visible(session, principal, program)
        return program_view(program, program_figures(session, program.id))


def list_programs(
    database: Database, principal: Principal, limit: int, cursor: str | None
) -> dict[str, Any]:
    """Programmes, oldest first, a page at a time, with their figures: every one for the admin
    and the auditor, those its organisation distributes for an issuer."""
    query = select(Program)
    if principal.role == "issuer":
        query = query.join(
            organisation_programs, organisation_programs.c.program_id == Program.id
        ).where(organisation_programs.c.organisation_id == principal.organisation_id)
    with database.read() as session:
        page, next_cursor = page_of(session, query, Program.created_at, Program.id, limit, cursor)
        figures = programs_figures(session, [p.id for p in page])
        return {
            "items": [program_view(p, figures[p.id]) for p in page],
            "next_cursor": next_cursor,
        }


def add_program(session: Session, data: ProgramInput, now: datetime) -> Program:
    """A new programme; its whole budget is allocated from the funder in the same transaction."""
    check_program_dates(data.valid_from, data.valid_until)
    if session.scalar(select(Program.id).where(Program.code == data.code)) is not None:
        raise Conflict(f"a programme with code {data.code} exists already")
    program = Program(**data.__dict__, created_at=now)
    session.add(program)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"a programme with code {data.code} exists already") from None
    write_transfer(session, kinds.allocate(now, program.id, data.funder, data.budget_cents))
    return program


def check_program_dates(valid_from: datetime, valid_until: datetime) -> None:
    if valid_until <= valid_from:
        raise InvalidRequest(
            "valid_until must come after valid_from",
            [{"path": "/valid_until", "message": "must be later than valid_from"}],
        )


def load_program(session: Session, program_id: str) -> Program:
    program = session.get(Program, program_id)
    if program is None:
        raise NotFound(f"no programme {program_id}")
    return program


def ensure_visible(session: Session, principal: Principal, program: Program) -> None:
    """An issuer sees only the programmes its organisation hands out; the others, not found."""
    if principal.role != "issuer":
        return
    assert principal.organisation_id is not None  # an issuer key is bound to its organisation
    if program.id not in organisation_program_ids(session, principal.organisation_id):
        raise NotFound(f"no programme {program.id}")


def program_view(program: Program, figures: dict[str, int]) -> dict[str, Any]:
    return {
        "id": program.id,
        "code": program.code,
        "name": program.name,
        "funder": program.funder,
        "budget_cents": program.budget_cents,
        "face_value_cents": program.face_value_cents,
        "currency": program.currency,
        "booklet_size": program.booklet_size,
        "valid_from": rfc3339(program.valid_from),
        "valid_until": rfc3339(program.valid_until),
        "voucher_validity_days": program.voucher_validity_days,
        "max_vouchers_per_beneficiary": program.max_vouchers_per_beneficiary,
        "territory": program.territory,
        "created_at": rfc3339(program.created_at),
        "figures": figures,
    }
