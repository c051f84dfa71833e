"""Pre-printed batches (the #APTIC model): booklets printed before anyone holds them, worth
nothing until their organisation activates one for a beneficiary; and their PDF, streamed.

A printed voucher holds its budget from the start (its value is outstanding, as an issued
one's), so that no activation can find the money gone; but the one redemption rule refuses it
(`voucher-not-activated`) until its booklet's activation, when the beneficiary cap applies. Its
expiry is fixed at printing: its token carries `exp`, signed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from voucher_service.auth.api import Principal
from voucher_service.clock import rfc3339
from voucher_service.context import ServiceContext
from voucher_service.db import Database, new_id
from voucher_service.errors import BookletAlreadyActivated, Conflict, NotFound
from voucher_service.idempotency.api import Idempotency, Outcome, run_once_in
from voucher_service.ledger import kinds
from voucher_service.ledger.writes import write_transfer
from voucher_service.printing import PrintedBooklet, render_batch
from voucher_service.printing.batch import BOOKLETS_PER_PART
from voucher_service.programs.models import Program
from voucher_service.vouchers.booklets import status_counts
from voucher_service.vouchers.issuance import (
    beneficiary_hash,
    booklet_view,
    ensure_beneficiary_cap,
    ensure_organisation_distributes,
    ensure_program_active,
    lock_program,
    program_to_issue,
    write_booklet,
)
from voucher_service.vouchers.models import ISSUED, PRINTED, Booklet, BookletBatch, Voucher
from voucher_service.vouchers.printed import printed_booklet

PARTS_WORTH_PROCESSES = 4  # parts of ten booklets: past these, draw on every core


def print_batch(
    database: Database,
    ctx: ServiceContext,
    issuer: Principal,
    program_id: str,
    count: int,
    size: int | None,
    idem: Idempotency,
    now: datetime,
) -> Outcome:
    """Print `count` booklets for later, or none: a refused batch prints nothing."""
    return run_once_in(
        database,
        idem,
        ctx.answers,
        now,
        201,
        lambda session: _print(session, ctx, issuer, program_id, count, size, now),
    )


def _print(
    session: Session,
    ctx: ServiceContext,
    issuer: Principal,
    program_id: str,
    count: int,
    size: int | None,
    now: datetime,
) -> dict[str, Any]:
    assert issuer.organisation_id is not None
    program, size = program_to_issue(
        session, issuer.organisation_id, program_id, size, now, booklets=count
    )
    batch = BookletBatch(
        id=new_id(),
        program_id=program.id,
        organisation_id=issuer.organisation_id,
        count=count,
        size=size,
        created_at=now,
        created_by=issuer.id,
    )
    session.add(batch)
    session.flush()
    booklets = [
        write_booklet(session, ctx, issuer, program, size, now, batch_id=batch.id)
        for _ in range(count)
    ]
    # In the order every later view of the batch (its listing, its PDF) gives them.
    booklets.sort(key=lambda booklet: str(booklet["id"]))
    return {**_batch_fields(batch), "booklets": booklets}


def get_batch(database: Database, principal: Principal, batch_id: str) -> dict[str, Any]:
    """The batch and, for each booklet, whether it was handed out and its vouchers' statuses;
    no code, no token (they were shown once, and are on the batch's PDF)."""
    with database.read() as session:
        batch = _readable_batch(session, principal, batch_id)
        booklets = list(
            session.scalars(
                select(Booklet).where(Booklet.batch_id == batch.id).order_by(Booklet.id)
            )
        )
        counts = status_counts(session, [booklet.id for booklet in booklets])
        return {
            **_batch_fields(batch),
            "booklets": [
                {
                    "id": booklet.id,
                    "activated_at": _time_or_none(booklet.activated_at),
                    "statuses": {PRINTED: 0, **counts[booklet.id]},
                }
                for booklet in booklets
            ],
        }


def activate_booklet(
    database: Database,
    ctx: ServiceContext,
    issuer: Principal,
    booklet_id: str,
    beneficiary_ref: str,
    now: datetime,
) -> dict[str, Any]:
    """Hand a pre-printed booklet to a beneficiary: its vouchers become redeemable, the cap
    counts them from now on. A refusal changes nothing."""
    assert issuer.organisation_id is not None
    with database.atomic() as session:
        booklet, program = _lock_booklet(session, issuer, booklet_id)
        ensure_organisation_distributes(session, issuer.organisation_id, program.id)
        ensure_program_active(program, now)
        if booklet.batch_id is None or booklet.activated_at is not None:
            raise _already_activated(booklet)
        if booklet.cancelled_at is not None:
            raise Conflict("this booklet was cancelled (lost or stolen): it cannot be handed out")
        owner = beneficiary_hash(ctx.keys.secret, issuer.organisation_id, beneficiary_ref)
        # Its vouchers locked in id order, the order expiry and cancellation lock in too, so
        # that an activation meeting either waits for it rather than deadlocking.
        session.execute(
            select(Voucher.id)
            .where(Voucher.booklet_id == booklet.id, Voucher.status == PRINTED)
            .order_by(Voucher.id)
            .with_for_update()
        )
        printed = list(
            session.scalars(
                select(Voucher.id)
                .where(Voucher.booklet_id == booklet.id, Voucher.status == PRINTED)
                .order_by(Voucher.position)
            )
        )
        ensure_beneficiary_cap(session, program, owner, len(printed))
        # The guard of "activated once", whatever the concurrency: only a booklet still
        # waiting for its beneficiary takes one (a concurrent loser matches no row).
        claimed = session.execute(
            update(Booklet)
            .where(Booklet.id == booklet.id, Booklet.activated_at.is_(None))
            .values(beneficiary_hash=owner, activated_at=now, activated_by=issuer.id)
            .returning(Booklet.id)
        ).first()
        if claimed is None:
            raise _already_activated(booklet)
        session.execute(
            update(Voucher)
            .where(Voucher.booklet_id == booklet.id, Voucher.status == PRINTED)
            .values(status=ISSUED)
        )
        if printed:  # (a booklet whose every voucher was withdrawn has none to activate)
            write_transfer(session, kinds.activate(now, program.id, booklet.id, printed))
        session.refresh(booklet)
        return booklet_view(session, booklet)


def batch_pdf(
    database: Database, ctx: ServiceContext, principal: Principal, batch_id: str
) -> Iterator[bytes]:
    """The batch's PDF in pieces, each sendable at once: its booklets are read one by one,
    each in a short transaction, as the drawing reaches them; none is held longer."""
    with database.read() as session:
        batch = _readable_batch(session, principal, batch_id)
        created_at = batch.created_at
        booklet_ids = list(
            session.scalars(
                select(Booklet.id).where(Booklet.batch_id == batch.id).order_by(Booklet.id)
            )
        )

    def booklets() -> Iterator[PrintedBooklet]:
        for booklet_id in booklet_ids:
            with database.read() as session:
                booklet = printed_booklet(session, ctx, booklet_id)
            yield booklet

    # Dated at the printing, as its vouchers are: a reprint is the same document. A large
    # batch is drawn on every core (drawing is pure CPU); a small one is not worth the
    # processes' start.
    parts = -(-len(booklet_ids) // BOOKLETS_PER_PART)
    processes = (os.cpu_count() or 1) if parts > PARTS_WORTH_PROCESSES else 1
    return render_batch(booklets(), created_at=created_at, processes=processes)


def _lock_booklet(session: Session, issuer: Principal, booklet_id: str) -> tuple[Booklet, Program]:
    """The issuer's booklet, read under its programme's lock (activation takes the cap and
    issuance serialises there); another organisation's is reported missing."""
    owner = session.execute(
        select(Booklet.program_id, Booklet.organisation_id).where(Booklet.id == booklet_id)
    ).first()
    if owner is None or owner.organisation_id != issuer.organisation_id:
        raise NotFound(f"no booklet {booklet_id}")
    program = lock_program(session, owner.program_id)
    booklet = session.get(Booklet, booklet_id)
    assert booklet is not None  # booklets are never deleted
    return booklet, program


def _already_activated(booklet: Booklet) -> BookletAlreadyActivated:
    if booklet.batch_id is None:
        return BookletAlreadyActivated(
            "this booklet was issued to its beneficiary: only a pre-printed one is activated"
        )
    return BookletAlreadyActivated("this booklet was activated already")


def _readable_batch(session: Session, principal: Principal, batch_id: str) -> BookletBatch:
    batch = session.get(BookletBatch, batch_id)
    # Another organisation's batch is reported missing: its existence must not leak.
    if batch is None or not principal.sees_organisation(batch.organisation_id):
        raise NotFound(f"no booklet batch {batch_id}")
    return batch


def _batch_fields(batch: BookletBatch) -> dict[str, Any]:
    return {
        "id": batch.id,
        "program_id": batch.program_id,
        "organisation_id": batch.organisation_id,
        "created_at": rfc3339(batch.created_at),
        "count": batch.count,
        "size": batch.size,
    }


def _time_or_none(value: datetime | None) -> str | None:
    return None if value is None else rfc3339(value)
