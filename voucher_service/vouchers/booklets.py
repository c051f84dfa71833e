"""Finding booklets: an organisation's, a programme's, one person's (by the keyed hash of the
case reference), a page at a time, and never with their vouchers' codes or tokens."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from voucher_service.auth.api import Principal
from voucher_service.clock import rfc3339
from voucher_service.context import ServiceContext
from voucher_service.db import Database
from voucher_service.errors import Forbidden, InvalidRequest
from voucher_service.pagination import page_of
from voucher_service.vouchers.issuance import beneficiary_hash, normalise_reference
from voucher_service.vouchers.models import CANCELLED, EXPIRED, ISSUED, REDEEMED, Booklet, Voucher

STATUSES = (ISSUED, REDEEMED, CANCELLED, EXPIRED)


@dataclass(frozen=True)
class BookletFilter:
    program_id: str | None = None
    organisation_id: str | None = None
    beneficiary_ref: str | None = None


def list_booklets(
    database: Database,
    ctx: ServiceContext,
    principal: Principal,
    where: BookletFilter,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """Booklets, oldest first, a page at a time: an issuer's organisation's only, every one
    for the admin; each with how many of its vouchers are in each status."""
    organisation_id = _organisation_in_scope(principal, where.organisation_id)
    query = select(Booklet)
    if organisation_id is not None:
        query = query.where(Booklet.organisation_id == organisation_id)
    if where.program_id is not None:
        query = query.where(Booklet.program_id == where.program_id)
    if where.beneficiary_ref is not None:
        owner = _owner(ctx, organisation_id, where.beneficiary_ref)
        query = query.where(Booklet.beneficiary_hash == owner)
    with database.read() as session:
        page, next_cursor = page_of(session, query, Booklet.issued_at, Booklet.id, limit, cursor)
        counts = status_counts(session, [b.id for b in page])
        return {
            "items": [booklet_summary(b, counts[b.id]) for b in page],
            "next_cursor": next_cursor,
        }


def _organisation_in_scope(principal: Principal, asked: str | None) -> str | None:
    """An issuer's lists are its organisation's: asking for another one is refused."""
    if principal.role != "issuer":
        return asked
    if asked is not None and asked != principal.organisation_id:
        raise Forbidden("an issuer lists its own organisation's booklets only")
    return principal.organisation_id


def _owner(ctx: ServiceContext, organisation_id: str | None, reference: str) -> str:
    """The keyed hash a booklet of this person carries. A case reference means something only
    within its organisation (the hash is scoped to it), so the admin names the organisation."""
    if organisation_id is None:
        raise InvalidRequest(
            "a beneficiary_ref is an organisation's case reference: give its organisation_id",
            [{"path": "organisation_id", "message": "required with beneficiary_ref"}],
        )
    if not normalise_reference(reference):
        raise InvalidRequest(
            "beneficiary_ref is empty", [{"path": "beneficiary_ref", "message": "empty"}]
        )
    return beneficiary_hash(ctx.keys.secret, organisation_id, reference)


def status_counts(session: Session, booklet_ids: list[str]) -> dict[str, dict[str, int]]:
    """How many vouchers of each booklet are in each status, in one query."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(STATUSES, 0))
    rows = session.execute(
        select(Voucher.booklet_id, Voucher.status, func.count())
        .where(Voucher.booklet_id.in_(booklet_ids))
        .group_by(Voucher.booklet_id, Voucher.status)
    )
    for booklet_id, status, count in rows:
        counts[booklet_id][status] = int(count)
    return {booklet_id: counts[booklet_id] for booklet_id in booklet_ids}


def booklet_summary(booklet: Booklet, statuses: dict[str, int]) -> dict[str, Any]:
    """A booklet as a list shows it: no voucher, no code, no token, no reference."""
    return {
        "id": booklet.id,
        "program_id": booklet.program_id,
        "organisation_id": booklet.organisation_id,
        "issued_at": rfc3339(booklet.issued_at),
        "size": booklet.size,
        "statuses": statuses,
    }
