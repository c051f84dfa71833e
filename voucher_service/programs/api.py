"""Use cases of programmes: create one (allocating its budget) and read its figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from voucher_service.errors import Conflict, InvalidRequest, NotFound
from voucher_service.ledger import accounts
from voucher_service.ledger.transfers import Posting, build_transfer, write_transfer
from voucher_service.programs.models import Program
from voucher_service.vouchers.models import CANCELLED, EXPIRED, REDEEMED, Voucher


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


def create_program(session: Session, data: ProgramInput, now: datetime) -> Program:
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
    write_transfer(
        session,
        build_transfer(
            "allocate",
            now,
            [
                Posting(
                    accounts.funder_appropriation(data.funder),
                    accounts.program_available(program.id),
                    data.budget_cents,
                )
            ],
            program_id=program.id,
            funder=accounts.funder_key(data.funder),
        ),
    )
    return program


def check_program_dates(valid_from: datetime, valid_until: datetime) -> None:
    if valid_until <= valid_from:
        raise InvalidRequest(
            "valid_until must come after valid_from",
            [{"path": "/valid_until", "message": "must be later than valid_from"}],
        )


def get_program(session: Session, program_id: str) -> Program:
    program = session.get(Program, program_id)
    if program is None:
        raise NotFound(f"no programme {program_id}")
    return program


def program_figures(session: Session, program: Program) -> dict[str, int]:
    """The programme's money, derived from its vouchers (no stored counter to keep in step)."""

    def total(status: str | None) -> Any:
        value = (
            Voucher.value_cents
            if status is None
            else case((Voucher.status == status, Voucher.value_cents), else_=0)
        )
        return func.coalesce(func.sum(value), 0)

    row = session.execute(
        select(total(None), total(REDEEMED), total(EXPIRED), total(CANCELLED)).where(
            Voucher.program_id == program.id
        )
    ).one()
    issued, redeemed, expired, cancelled = (int(value) for value in row)
    return {
        "budget_cents": program.budget_cents,
        "issued_cents": issued,
        "redeemed_cents": redeemed,
        "expired_cents": expired,
        "cancelled_cents": cancelled,
        "outstanding_cents": issued - redeemed - expired - cancelled,
        "available_cents": program.budget_cents - issued + expired + cancelled,
    }
