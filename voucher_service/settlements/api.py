"""Settling a programme's month: its partners' statements put into payment, then paid or
rejected on the bank's answer (CONTRACT §9, DESIGN "The money cycle").

What keeps a redemption from being paid twice is not this code's care but the database: a
partial unique index admits one live settlement line per redemption. Around it, a run takes
the programme's lock (PostgreSQL: `pg_advisory_xact_lock`; SQLite: every write transaction is
already serialised by BEGIN IMMEDIATE), fixes its cut-off (the end of the month) before it
selects, and selects after taking the lock, locking the redemptions it takes (FOR UPDATE), so
that a concurrent reversal either waits and then finds them settled, or wins and is skipped.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import exists, func, insert, select, text, update
from sqlalchemy.orm import Session

from voucher_service.auth.api import Principal
from voucher_service.clock import month_bounds, month_text, rfc3339
from voucher_service.context import ServiceContext
from voucher_service.db import Database, new_id
from voucher_service.errors import InvalidRequest, NotFound, SettlementNotAllowed
from voucher_service.idempotency.api import Idempotency, Outcome, run_once_in
from voucher_service.ledger import kinds
from voucher_service.ledger.writes import write_transfer
from voucher_service.programs.models import Program
from voucher_service.settlements.models import (
    EMPTY,
    IN_PAYMENT,
    PAID,
    PARTLY_PAID,
    REJECTED,
    Settlement,
    SettlementLine,
    Statement,
)
from voucher_service.settlements.payment import end_to_end_id, ordered_statement_ids
from voucher_service.vouchers.models import Redemption

Answer = Literal["confirm", "reject"]


def settle_month(
    database: Database,
    ctx: ServiceContext,
    admin: Principal,
    program_id: str,
    month: date,
    idem: Idempotency,
    now: datetime,
) -> Outcome:
    """Put every redemption of the programme's month that is neither reversed nor settled
    into payment, a statement a partner; once: a second run finds nothing new."""
    _, end = month_bounds(month)
    if now < end:
        raise SettlementNotAllowed(
            f"{month_text(month)} is not over: it can be settled from {rfc3339(end)}"
        )
    return run_once_in(
        database,
        idem,
        ctx.answers,
        now,
        201,
        lambda session: settlement_view(session, settle(session, admin.id, program_id, month, now)),
    )


def settle(
    session: Session, admin_id: str, program_id: str, month: date, now: datetime
) -> Settlement:
    """The settlement, written in the caller's transaction (the use case, and the bench)."""
    if session.get(Program, program_id) is None:
        raise NotFound(f"no programme {program_id}")
    lock_program_settlements(session, program_id)
    # The cut-off is fixed before the selection: a redemption that commits during the run with
    # an earlier time is not lost, it is taken by the next run of the month.
    start, cutoff = month_bounds(month)
    chosen = _unsettled(session, program_id, start, cutoff)
    settlement = Settlement(
        id=new_id(),
        program_id=program_id,
        period=month_text(month),
        cutoff=cutoff,
        status=EMPTY,
        total_cents=0,
        created_at=now,
        created_by=admin_id,
    )
    session.add(settlement)
    session.flush()
    by_partner: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for redemption_id, partner_id, value in chosen:
        by_partner[partner_id].append((redemption_id, value))
    for partner_id, lines in sorted(by_partner.items()):
        amount = sum(value for _, value in lines)
        transfer = write_transfer(
            session, kinds.settle(now, program_id, partner_id, settlement.id, amount)
        )
        statement = Statement(
            id=new_id(),
            settlement_id=settlement.id,
            partner_id=partner_id,
            count=len(lines),
            amount_cents=amount,
            status=IN_PAYMENT,
            settle_transfer_id=transfer.id,
        )
        session.add(statement)
        session.flush()
        write_lines(session, statement.id, lines)
        settlement.total_cents += amount
    settlement.status = IN_PAYMENT if by_partner else EMPTY
    session.flush()
    return settlement


# On PostgreSQL a statement's lines go in one INSERT from two arrays: an executemany sends one
# statement a row (4.7 s for a month of 100,000), a many-row VALUES costs its compilation.
UNNEST_LINES = text(
    "INSERT INTO settlement_lines (statement_id, redemption_id, amount_cents) "
    "SELECT :statement_id, line.redemption_id, line.amount_cents "
    "FROM unnest(CAST(:redemption_ids AS varchar[]), CAST(:amounts AS integer[])) "
    "AS line (redemption_id, amount_cents)"
)


def write_lines(session: Session, statement_id: str, lines: list[tuple[str, int]]) -> None:
    """The statement's lines: one statement on PostgreSQL; on SQLite, in process, many."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            UNNEST_LINES,
            {
                "statement_id": statement_id,
                "redemption_ids": [rid for rid, _ in lines],
                "amounts": [value for _, value in lines],
            },
        )
        return
    session.execute(
        insert(SettlementLine),
        [
            {"statement_id": statement_id, "redemption_id": rid, "amount_cents": value}
            for rid, value in lines
        ],
    )


def lock_program_settlements(session: Session, program_id: str) -> None:
    """One settlement run of a programme at a time, until the transaction ends. Whatever was
    read before this must be read again after it (the caller selects only afterwards)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(advisory_key(program_id))))
    # SQLite: the write transaction (BEGIN IMMEDIATE) already holds the database's one lock.


def advisory_key(program_id: str) -> int:
    """A 64-bit key for the programme's settlement lock, apart from any other lock's."""
    digest = hashlib.sha256(b"voucher-service settlement\x00" + program_id.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _unsettled(
    session: Session, program_id: str, start: datetime, cutoff: datetime
) -> list[tuple[str, str, int]]:
    """(redemption, partner, cents) of the month, not reversed and in no live statement,
    locked on PostgreSQL: a reversal that holds one first makes us wait, then we skip it."""
    live = exists().where(
        SettlementLine.redemption_id == Redemption.id, SettlementLine.released_at.is_(None)
    )
    query = (
        select(Redemption.id, Redemption.partner_id, Redemption.value_cents)
        .where(
            Redemption.program_id == program_id,
            Redemption.redeemed_at >= start,
            Redemption.redeemed_at < cutoff,
            Redemption.reversed_at.is_(None),
            ~live,
        )
        .order_by(Redemption.partner_id, Redemption.redeemed_at, Redemption.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=Redemption)
    return [(rid, partner, int(value)) for rid, partner, value in session.execute(query)]


def get_settlement(database: Database, principal: Principal, settlement_id: str) -> dict[str, Any]:
    """The settlement; a partner sees it with its own statement only, and another partner's
    settlement (where it has none) is reported missing."""
    with database.read() as session:
        settlement = readable_settlement(session, principal, settlement_id)
        return settlement_view(session, settlement, principal)


def list_settlements(
    database: Database, principal: Principal, program_id: str | None
) -> dict[str, Any]:
    """Settlements newest first (a partner: those with a statement of its own)."""
    query = select(Settlement).order_by(Settlement.created_at.desc(), Settlement.id)
    if program_id is not None:
        query = query.where(Settlement.program_id == program_id)
    if principal.role == "partner":
        query = query.where(
            exists().where(
                Statement.settlement_id == Settlement.id,
                Statement.partner_id == principal.partner_id,
            )
        )
    with database.read() as session:
        return {"items": [settlement_view(session, s, principal) for s in session.scalars(query)]}


def answer_payment(
    database: Database,
    settlement_id: str,
    answer: Answer,
    partner_ids: list[str] | None,
    reason: str | None,
    now: datetime,
) -> dict[str, Any]:
    """The bank's answer for some statements (all those in payment when none are named):
    confirmed, each is paid (a `pay` transfer); rejected, its amount is payable again (a
    `reject` transfer) and its redemptions leave it, to be settled by a later run. A statement
    is answered once: paid or rejected, it never changes again (409)."""
    with database.atomic() as session:
        settlement = session.get(Settlement, settlement_id, with_for_update=True)
        if settlement is None:
            raise NotFound(f"no settlement {settlement_id}")
        statements = {s.partner_id: s for s in _statements(session, settlement.id)}
        # Paid means the bank carried out an order we gave it: only a statement that the
        # settlement's payment file orders can be confirmed (not one made before the file,
        # nor one left out of it for want of a bank account: those can only be rejected).
        ordered = ordered_statement_ids(settlement.payment_file)
        targets = _answered(statements, partner_ids, ordered if answer == "confirm" else None)
        for statement in targets:
            _close(session, settlement, statement, answer, reason, now, ordered)
        settlement.status = settlement_status(s.status for s in statements.values())
        session.flush()
        return settlement_view(session, settlement)


def _answered(
    statements: dict[str, Statement],
    partner_ids: list[str] | None,
    ordered: set[str] | None = None,
) -> list[Statement]:
    """The statements named, or every one in payment (with `ordered`, a confirmation: every
    one in payment that the payment file orders paid)."""
    if partner_ids is None:
        waiting = [
            s
            for _, s in sorted(statements.items())
            if s.status == IN_PAYMENT and (ordered is None or end_to_end_id(s) in ordered)
        ]
        if not waiting:
            raise SettlementNotAllowed(
                "no statement of this settlement is waiting for payment"
                + ("" if ordered is None else " in its payment file")
            )
        return waiting
    missing = [
        {"path": f"/partner_ids/{i}", "message": "no statement of this partner here"}
        for i, partner_id in enumerate(partner_ids)
        if partner_id not in statements
    ]
    if missing:
        raise InvalidRequest("a partner named has no statement in this settlement", missing)
    return [statements[p] for p in sorted(set(partner_ids))]


def _close(
    session: Session,
    settlement: Settlement,
    statement: Statement,
    answer: Answer,
    reason: str | None,
    now: datetime,
    ordered: set[str],
) -> None:
    if statement.status != IN_PAYMENT:
        raise SettlementNotAllowed(
            f"the statement of partner {statement.partner_id} was {statement.status} already: "
            "a statement is answered once"
        )
    if answer == "confirm" and end_to_end_id(statement) not in ordered:
        raise SettlementNotAllowed(
            f"the statement of partner {statement.partner_id} is in no payment file: make "
            f"the file first (POST /v1/settlements/{settlement.id}/payment-file); a statement "
            "left out of it (no bank account then) can only be rejected"
        )
    make = kinds.pay if answer == "confirm" else kinds.reject
    transfer = write_transfer(
        session,
        make(
            now,
            settlement.program_id,
            statement.partner_id,
            settlement.id,
            statement.amount_cents,
        ),
    )
    statement.status = PAID if answer == "confirm" else REJECTED
    statement.closed_at, statement.close_transfer_id, statement.reason = now, transfer.id, reason
    if answer == "reject":
        session.execute(
            update(SettlementLine)
            .where(
                SettlementLine.statement_id == statement.id, SettlementLine.released_at.is_(None)
            )
            .values(released_at=now)
        )


def settlement_status(statuses: Iterable[str]) -> str:
    """What the statements' statuses make of their settlement's (see models.py)."""
    found = set(statuses)
    if not found:
        return EMPTY
    if IN_PAYMENT in found:
        return IN_PAYMENT
    if found == {PAID}:
        return PAID
    if found == {REJECTED}:
        return REJECTED
    return PARTLY_PAID


def readable_settlement(session: Session, principal: Principal, settlement_id: str) -> Settlement:
    """The settlement, or 404; for a partner, only one holding a statement of its own."""
    settlement = session.get(Settlement, settlement_id)
    if settlement is None or (
        principal.role == "partner"
        and session.scalar(
            select(Statement.id).where(
                Statement.settlement_id == settlement.id,
                Statement.partner_id == principal.partner_id,
            )
        )
        is None
    ):
        raise NotFound(f"no settlement {settlement_id}")
    return settlement


def _statements(session: Session, settlement_id: str) -> list[Statement]:
    return list(
        session.scalars(
            select(Statement)
            .where(Statement.settlement_id == settlement_id)
            .order_by(Statement.partner_id)
        )
    )


def settlement_view(
    session: Session, settlement: Settlement, principal: Principal | None = None
) -> dict[str, Any]:
    """The settlement as the API shows it; to a partner, with its own statement only (and
    the total of that one: the others' amounts are not its business)."""
    statements = _statements(session, settlement.id)
    if principal is not None and principal.role == "partner":
        statements = [s for s in statements if s.partner_id == principal.partner_id]
        total = sum(s.amount_cents for s in statements)
    else:
        total = settlement.total_cents
    payment = None
    if settlement.payment_msg_id is not None and settlement.payment_file_at is not None:
        payment = {
            "msg_id": settlement.payment_msg_id,
            "created_at": rfc3339(settlement.payment_file_at),
        }
    return {
        "id": settlement.id,
        "program_id": settlement.program_id,
        "period": settlement.period,
        "status": settlement.status,
        "total_cents": total,
        "currency": "EUR",
        "cutoff": rfc3339(settlement.cutoff),
        "created_at": rfc3339(settlement.created_at),
        "payment_file": payment,
        "statements": [statement_view(s) for s in statements],
    }


def statement_view(statement: Statement) -> dict[str, Any]:
    return {
        "partner_id": statement.partner_id,
        "count": statement.count,
        "amount_cents": statement.amount_cents,
        "status": statement.status,
        "closed_at": None if statement.closed_at is None else rfc3339(statement.closed_at),
        "reason": statement.reason,
    }
