"""Expiry: vouchers past their `expires_at` leave circulation and their value goes back to the
programme; and the list of those that expire soon, for the funders' J-30 and J-15 reminders.

Expiry runs programme by programme, in chunks of a few thousand vouchers, each chunk one
transaction: its vouchers are locked in id order (as a cancellation locks them, so the two
never deadlock), then flipped by a conditional UPDATE … RETURNING, so that a voucher redeemed
or cancelled meanwhile is never also expired, and each `expire` transfer (one per programme
and organisation in the chunk, so that reports by organisation read the ledger alone) moves
back exactly the value that UPDATE returned.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from voucher_service.auth.api import Principal
from voucher_service.clock import rfc3339
from voucher_service.db import Database
from voucher_service.ledger import kinds
from voucher_service.ledger.writes import write_transfer
from voucher_service.organisations.models import Organisation
from voucher_service.programs.api import ensure_visible, load_program
from voucher_service.programs.models import Program
from voucher_service.vouchers.models import (
    EXPIRED,
    IN_CIRCULATION,
    ISSUED,
    Booklet,
    Voucher,
)

CHUNK = 5_000  # vouchers a transaction: short locks, and a ledger entry of bounded size


@dataclass(frozen=True)
class Expiry:
    """What a run expired: how many vouchers, their value, and the transfers that moved it."""

    vouchers: int = 0
    cents: int = 0
    transfers: int = 0

    def __add__(self, other: Expiry) -> Expiry:
        return Expiry(
            self.vouchers + other.vouchers,
            self.cents + other.cents,
            self.transfers + other.transfers,
        )

    def as_dict(self) -> dict[str, int]:
        return {"vouchers": self.vouchers, "cents": self.cents, "transfers": self.transfers}


def expire_vouchers(database: Database, now: datetime, chunk: int = CHUNK) -> Expiry:
    """Expire every voucher still in circulation (issued, or printed and never handed out)
    whose `expires_at` is at or before `now`. Safe to run at any time, concurrently with
    redemptions, cancellations and another run: nothing is expired twice."""
    with database.read() as session:
        program_ids = list(session.scalars(select(Program.id).order_by(Program.id)))
    done = Expiry()
    for program_id in program_ids:
        after: tuple[datetime, str] | None = None
        while True:
            with database.atomic() as session:
                expired, after = _expire_chunk(session, program_id, now, after, chunk)
            done += expired
            if after is None:
                break
    return done


def _expire_chunk(
    session: Session,
    program_id: str,
    now: datetime,
    after: tuple[datetime, str] | None,
    chunk: int,
) -> tuple[Expiry, tuple[datetime, str] | None]:
    """Expire the next chunk of the programme's vouchers past expiry, in (expires_at, id)
    order after `after`; also return where the next chunk starts (None: this was the last)."""
    candidates = (
        select(Voucher.id, Voucher.expires_at, Booklet.organisation_id)
        .join(Booklet, Booklet.id == Voucher.booklet_id)
        .where(
            Voucher.program_id == program_id,
            Voucher.expires_at <= now,
            Voucher.status.in_(IN_CIRCULATION),
        )
        .order_by(Voucher.expires_at, Voucher.id)
        .limit(chunk)
    )
    if after is not None:
        candidates = candidates.where(
            or_(
                Voucher.expires_at > after[0],
                and_(Voucher.expires_at == after[0], Voucher.id > after[1]),
            )
        )
    rows = session.execute(candidates).all()
    if not rows:
        return Expiry(), None
    organisation_of = {row.id: row.organisation_id for row in rows}
    ids = sorted(organisation_of)
    still = (Voucher.id.in_(ids), Voucher.status.in_(IN_CIRCULATION), Voucher.expires_at <= now)
    session.execute(select(Voucher.id).where(*still).order_by(Voucher.id).with_for_update())
    flipped = session.execute(
        update(Voucher)
        .where(*still)
        .values(status=EXPIRED)
        .returning(Voucher.id, Voucher.value_cents)
        .execution_options(synchronize_session=False)
    ).all()
    by_organisation: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for voucher_id, value in flipped:
        by_organisation[organisation_of[voucher_id]].append((voucher_id, value))
    for organisation_id, vouchers in sorted(by_organisation.items()):
        write_transfer(
            session,
            kinds.expire(
                now,
                program_id,
                sorted(voucher_id for voucher_id, _ in vouchers),
                sum(value for _, value in vouchers),
                organisation_id=organisation_id,
            ),
        )
    last = rows[-1]
    expired = Expiry(len(flipped), sum(value for _, value in flipped), len(by_organisation))
    return expired, (None if len(rows) < chunk else (last.expires_at, last.id))


# Expiring soon

MAX_WITHIN_DAYS = 366


def expiring_vouchers(
    database: Database, principal: Principal, program_id: str, within_days: int, now: datetime
) -> dict[str, Any]:
    """The programme's vouchers still redeemable that expire within `within_days` days, by
    organisation and booklet, soonest first; an issuer sees its own organisation's only."""
    until = now + timedelta(days=within_days)
    with database.read() as session:
        program = load_program(session, program_id)
        ensure_visible(session, principal, program)
        query = (
            select(
                Booklet.organisation_id,
                Organisation.name,
                Voucher.booklet_id,
                func.count(),
                func.sum(Voucher.value_cents),
                func.min(Voucher.expires_at),
                func.max(Voucher.expires_at),
            )
            .join(Booklet, Booklet.id == Voucher.booklet_id)
            .join(Organisation, Organisation.id == Booklet.organisation_id)
            .where(
                Voucher.program_id == program.id,
                Voucher.expires_at > now,
                Voucher.expires_at <= until,
                Voucher.status == ISSUED,
            )
            .group_by(Booklet.organisation_id, Organisation.name, Voucher.booklet_id)
        )
        if principal.role == "issuer":
            query = query.where(Booklet.organisation_id == principal.organisation_id)
        rows = session.execute(query).all()
    organisations: dict[str, dict[str, Any]] = {}
    for organisation_id, name, booklet_id, count, value, earliest, latest in rows:
        booklet = _group(int(count), int(value), earliest, latest)
        found = organisations.setdefault(
            organisation_id,
            {"organisation_id": organisation_id, "name": name, "booklets": []},
        )
        found["booklets"].append({"booklet_id": booklet_id, **booklet})
    listed = [_organisation(found) for found in organisations.values()]
    listed.sort(key=lambda o: (o["earliest_expires_at"], o["organisation_id"]))
    return {
        "program_id": program.id,
        "at": rfc3339(now),
        "within_days": within_days,
        "until": rfc3339(until),
        "count": sum(o["count"] for o in listed),
        "value_cents": sum(o["value_cents"] for o in listed),
        "organisations": listed,
    }


def _organisation(found: dict[str, Any]) -> dict[str, Any]:
    """An organisation's totals over its booklets, its booklets soonest first."""
    booklets = sorted(found["booklets"], key=lambda b: (b["earliest_expires_at"], b["booklet_id"]))
    return {
        "organisation_id": found["organisation_id"],
        "name": found["name"],
        "count": sum(b["count"] for b in booklets),
        "value_cents": sum(b["value_cents"] for b in booklets),
        "earliest_expires_at": min(b["earliest_expires_at"] for b in booklets),
        "latest_expires_at": max(b["latest_expires_at"] for b in booklets),
        "booklets": booklets,
    }


def _group(count: int, value: int, earliest: datetime, latest: datetime) -> dict[str, Any]:
    # min() and max() keep their column's type: the times come back aware, as stored.
    return {
        "count": count,
        "value_cents": value,
        "earliest_expires_at": rfc3339(earliest),
        "latest_expires_at": rfc3339(latest),
    }
