"""More budget for a programme: an `allocate` transfer from its funder, with the funder's own
reference (a decision's or an order's number), so that the ledger says where every cent of
the budget came from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from voucher_service.clock import rfc3339
from voucher_service.db import Database
from voucher_service.errors import InvalidRequest, NotFound
from voucher_service.ledger import kinds
from voucher_service.ledger.writes import write_transfer
from voucher_service.programs.figures import program_figures
from voucher_service.programs.models import Program

# A programme's whole budget stays far below what a 64-bit integer of cents holds.
MAX_TOTAL_BUDGET_CENTS = 10**15


def allocate(
    database: Database, program_id: str, amount_cents: int, reference: str, now: datetime
) -> dict[str, Any]:
    """Add `amount_cents` to the programme's budget: issuance can spend it at once."""
    with database.atomic() as session:
        program = _locked_program(session, program_id)
        budget = program_figures(session, program.id)["budget_cents"]
        if budget + amount_cents > MAX_TOTAL_BUDGET_CENTS:
            raise InvalidRequest(
                f"a programme's budget is at most {MAX_TOTAL_BUDGET_CENTS} cents in all; "
                f"it has {budget}",
                [{"path": "/amount_cents", "message": "the total budget would be too large"}],
            )
        transfer = write_transfer(
            session,
            kinds.allocate(now, program.id, program.funder, amount_cents, reference=reference),
        )
        # The programme's budget, as its view shows it, is everything allocated to it.
        program.budget_cents = budget + amount_cents
        session.flush()
        figures = program_figures(session, program.id)
        return {
            "id": transfer.id,
            "program_id": program.id,
            "amount_cents": amount_cents,
            "reference": reference,
            "funder": program.funder,
            "allocated_at": rfc3339(now),
            "budget_cents": figures["budget_cents"],
            "available_cents": figures["available_cents"],
            "ledger_entry": transfer.reference(),
        }


def _locked_program(session: Session, program_id: str) -> Program:
    """The programme, locked as issuance locks it: an issuance sees the budget before or
    after the allocation, whole."""
    program = session.scalar(select(Program).where(Program.id == program_id).with_for_update())
    if program is None:
        raise NotFound(f"no programme {program_id}")
    return program
