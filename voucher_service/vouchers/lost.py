"""Lost and stolen booklets: cancelling what was not yet redeemed, and reissuing it once.

A cancellation withdraws every voucher of the booklet still in circulation (issued, or printed
and never handed out) in one conditional UPDATE: a voucher redeemed meanwhile is either
redeemed or cancelled, never both, and the one `cancel` transfer moves back exactly the value
that UPDATE withdrew. A reissue gives the same beneficiary (the stored keyed hash: no case
reference needed) a new booklet of as many vouchers, under the rules of issuance.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from voucher_service.auth.api import Principal
from voucher_service.clock import rfc3339
from voucher_service.context import ServiceContext
from voucher_service.db import Database
from voucher_service.errors import Conflict, NotFound
from voucher_service.idempotency.api import Idempotency, Outcome, run_once_in
from voucher_service.ledger import kinds
from voucher_service.ledger.writes import write_transfer
from voucher_service.vouchers.issuance import (
    booklet_view,
    ensure_beneficiary_cap,
    lock_program,
    program_to_issue,
    write_booklet,
)
from voucher_service.vouchers.models import (
    CANCELLED,
    IN_CIRCULATION,
    NO_BENEFICIARY,
    Booklet,
    Voucher,
)


def cancel_booklet(
    database: Database, principal: Principal, booklet_id: str, reason: str, now: datetime
) -> dict[str, Any]:
    """Cancel a lost booklet: its unredeemed vouchers are revoked and their value goes back to
    the programme's available budget. Redeemed vouchers stay redeemed. Once only (409)."""
    with database.atomic() as session:
        booklet = _locked_booklet(session, principal, booklet_id)
        if booklet.cancelled_at is not None:
            raise Conflict(f"this booklet was cancelled at {rfc3339(booklet.cancelled_at)}")
        # Locked in id order first, as expiry locks them, so that the two never deadlock.
        session.execute(
            select(Voucher.id)
            .where(Voucher.booklet_id == booklet.id, Voucher.status.in_(IN_CIRCULATION))
            .order_by(Voucher.id)
            .with_for_update()
        )
        withdrawn = session.execute(
            update(Voucher)
            .where(Voucher.booklet_id == booklet.id, Voucher.status.in_(IN_CIRCULATION))
            .values(status=CANCELLED)
            .returning(Voucher.id, Voucher.value_cents)
            .execution_options(synchronize_session=False)
        ).all()
        if withdrawn:  # (a booklet whose every voucher was redeemed has nothing to give back)
            write_transfer(
                session,
                kinds.cancel(
                    now,
                    booklet.program_id,
                    sorted(row.id for row in withdrawn),
                    sum(row.value_cents for row in withdrawn),
                    booklet_id=booklet.id,
                    organisation_id=booklet.organisation_id,
                ),
            )
        booklet.cancelled_at, booklet.cancelled_by = now, principal.id
        booklet.cancellation_reason = reason
        session.flush()
        return booklet_view(session, booklet)


def reissue_booklet(
    database: Database,
    ctx: ServiceContext,
    issuer: Principal,
    booklet_id: str,
    idem: Idempotency,
    now: datetime,
) -> Outcome:
    """Replace a cancelled booklet, once, or refuse it whole (a refusal issues nothing)."""
    return run_once_in(
        database,
        idem,
        ctx.answers,
        now,
        201,
        lambda session: _reissue(session, ctx, issuer, booklet_id, now),
    )


def _reissue(
    session: Session, ctx: ServiceContext, issuer: Principal, booklet_id: str, now: datetime
) -> dict[str, Any]:
    assert issuer.organisation_id is not None
    owner = session.execute(
        select(Booklet.program_id, Booklet.organisation_id).where(Booklet.id == booklet_id)
    ).first()
    if owner is None or owner.organisation_id != issuer.organisation_id:
        raise NotFound(f"no booklet {booklet_id}")
    # Issuance's order of locks, the programme then the booklet, so that neither waits on the
    # other in a cycle (activation takes them in that order too).
    lock_program(session, owner.program_id)
    old = session.scalar(select(Booklet).where(Booklet.id == booklet_id).with_for_update())
    assert old is not None  # booklets are never deleted
    count = _reissuable(session, old)
    program, size = program_to_issue(session, issuer.organisation_id, old.program_id, count, now)
    # The cap ignores cancelled vouchers: the replacement takes the place of those.
    ensure_beneficiary_cap(session, program, old.beneficiary_hash, size)
    issued = write_booklet(session, ctx, issuer, program, size, now, owner=old.beneficiary_hash)
    new = session.get(Booklet, issued["id"])
    assert new is not None  # written just above
    new.replaces_id = old.id
    session.flush()
    return {**issued, "replaces": {"id": old.id}}


def _reissuable(session: Session, old: Booklet) -> int:
    """How many vouchers the replacement of `old` holds: those its cancellation withdrew;
    409 unless it was cancelled, had a beneficiary, was not reissued, and withdrew some."""
    if old.cancelled_at is None:
        raise Conflict("only a cancelled booklet can be reissued: cancel it first")
    if old.beneficiary_hash == NO_BENEFICIARY:
        raise Conflict(
            "this booklet was printed in advance and never handed out: it has no beneficiary "
            "to reissue it to (its cancellation is enough)"
        )
    replaced_by = session.scalar(select(Booklet.id).where(Booklet.replaces_id == old.id))
    if replaced_by is not None:
        raise Conflict(f"this booklet was reissued already, as booklet {replaced_by}")
    count = int(
        session.scalar(
            select(func.count())
            .select_from(Voucher)
            .where(Voucher.booklet_id == old.id, Voucher.status == CANCELLED)
        )
        or 0
    )
    if count == 0:
        raise Conflict("every voucher of this booklet was redeemed: there is nothing to reissue")
    return count


def _locked_booklet(session: Session, principal: Principal, booklet_id: str) -> Booklet:
    """The booklet, locked until the end of the transaction (a second cancellation waits, then
    sees the first); another organisation's is reported missing."""
    booklet = session.scalar(select(Booklet).where(Booklet.id == booklet_id).with_for_update())
    if booklet is None or not principal.sees_organisation(booklet.organisation_id):
        raise NotFound(f"no booklet {booklet_id}")
    return booklet
