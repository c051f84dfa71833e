"""Verifying and redeeming a voucher exactly once, reversing a redemption, listing them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, Table, select, update
from sqlalchemy.orm import Session

from voucher_service.auth.api import Principal
from voucher_service.clock import rfc3339
from voucher_service.context import ServiceContext
from voucher_service.db import Database
from voucher_service.errors import (
    InvalidVoucherToken,
    NotFound,
    PartnerNotEligible,
    RateLimited,
    ReversalNotAllowed,
    ServiceError,
    VoucherAlreadyRedeemed,
    VoucherNotFound,
)
from voucher_service.idempotency.api import Idempotency, Outcome, encode_body, run_once_in
from voucher_service.ids import new_id
from voucher_service.ledger import kinds
from voucher_service.ledger.transfers import RecordedTransfer
from voucher_service.ledger.writes import Rows, transfer_rows, write_rows, write_transfer
from voucher_service.pagination import page_of
from voucher_service.programs.models import Program
from voucher_service.settlements.models import SettlementLine
from voucher_service.vouchers import one_statement
from voucher_service.vouchers.claimable import (
    VoucherRef,
    claim,
    examine,
    identify,
    parameters,
)
from voucher_service.vouchers.models import (
    CANCELLED,
    EXPIRED,
    ISSUED,
    REDEEMED,
    Booklet,
    Redemption,
    Voucher,
)
from voucher_service.vouchers.ratelimit import seconds_left
from voucher_service.vouchers.tokens import sign

CURRENCY = "EUR"


def verify(
    database: Database,
    ctx: ServiceContext,
    partner: Principal,
    token: str | None,
    code: str | None,
    now: datetime,
    address: str | None = None,
) -> dict[str, Any]:
    """What a redemption would meet, without changing anything; `address` is the client's,
    whose failed code lookups are counted as well as the partner's."""
    assert partner.partner_id is not None
    ref = identify(ctx, token, code)
    ensure_codes_allowed(ctx, ref, partner.partner_id, address)
    with database.read() as session:
        voucher, reason = _examine(session, ctx, ref, partner.partner_id, now, address=address)
    expired = ref.expired_token(now)
    if isinstance(reason, PartnerNotEligible):
        raise reason  # another programme's voucher: nothing to tell about it
    if expired is None and isinstance(reason, InvalidVoucherToken):
        raise reason  # not a voucher of ours as it stands: nothing to tell about it
    reason = expired or reason
    status = voucher.status
    if status == ISSUED and (voucher.expires_at <= now or expired is not None):
        status = EXPIRED
    answer = {
        "voucher_id": voucher.id,
        "status": status,
        "value_cents": voucher.value_cents,
        "currency": CURRENCY,
        "expires_at": rfc3339(voucher.expires_at),
        "redeemable": reason is None,
    }
    if reason is not None:
        answer["reason"] = reason.slug
    return answer


def redeem(
    database: Database,
    ctx: ServiceContext,
    partner: Principal,
    token: str | None,
    code: str | None,
    service: str | None,
    idem: Idempotency,
    now: datetime,
    address: str | None = None,
) -> Outcome:
    """Flip the voucher from issued to redeemed, once: the conditional UPDATE is the guard.

    On PostgreSQL a redemption by token is one statement; anything unusual there (a
    refusal, a key used before) writes nothing and comes here, so that every refusal and
    every replay has one home: this transaction.
    """
    ref = identify(ctx, token, code)
    if ref.by_token and not ref.expired_token(now) and database.dialect == "postgresql":
        done = redeem_in_one_statement(database, ctx, partner, ref, service, idem, now)
        if done is not None:
            return done
    return redeem_in_transaction(database, ctx, partner, ref, service, idem, now, address)


def redeem_in_transaction(
    database: Database,
    ctx: ServiceContext,
    partner: Principal,
    ref: VoucherRef,
    service: str | None,
    idem: Idempotency,
    now: datetime,
    address: str | None = None,
) -> Outcome:
    """The general executor: the rule and the rows in a transaction, with the key's claim."""
    return run_once_in(
        database,
        idem,
        ctx.answers,
        now,
        201,
        lambda session: _redeem(session, ctx, partner, ref, service, now, address),
    )


def redeem_in_one_statement(
    database: Database,
    ctx: ServiceContext,
    partner: Principal,
    ref: VoucherRef,
    service: str | None,
    idem: Idempotency,
    now: datetime,
) -> Outcome | None:
    """PostgreSQL's executor, for a token (everything is known before the database is
    reached): the same rule and rows in one round trip, or None when the general executor
    must answer (a refusal, a replay)."""
    assert partner.partner_id is not None
    assert ref.voucher_id is not None
    assert ref.jti is not None
    assert ref.value_cents is not None

    def read(query: Select[str]) -> str | None:  # only when the process meets a new programme
        with database.read() as session:
            return session.scalar(query)

    program_id = program_id_of(ctx, ref, read)
    if program_id is None:
        return None
    made = prepare_redemption(
        ctx, partner.partner_id, ref.voucher_id, program_id, ref.value_cents, ref.jti, service, now
    )
    body = encode_body(made.view)
    rule = parameters(ref, program_id, partner.partner_id, now)
    sealed = ctx.answers.seal(body, idem)
    if not one_statement.redeem(database, made.rows, rule, idem, sealed, now):
        return None
    return Outcome(201, body, replayed=False)


def _redeem(
    session: Session,
    ctx: ServiceContext,
    partner: Principal,
    ref: VoucherRef,
    service: str | None,
    now: datetime,
    address: str | None = None,
) -> dict[str, Any]:
    assert partner.partner_id is not None
    expired = ref.expired_token(now)
    if expired is not None:
        raise expired
    ensure_codes_allowed(ctx, ref, partner.partner_id, address)
    program_id = program_id_of(ctx, ref, session.scalar)
    claimed = session.execute(
        claim(ref.by_token).returning(
            Voucher.id, Voucher.program_id, Voucher.value_cents, Voucher.jti
        ),
        parameters(ref, program_id, partner.partner_id, now),
    ).first()
    if claimed is None:
        _, reason = _examine(session, ctx, ref, partner.partner_id, now, program_id, address)
        raise reason or VoucherAlreadyRedeemed("this voucher was redeemed a moment ago")
    voucher_id, program_id, value, jti = claimed
    made = prepare_redemption(
        ctx, partner.partner_id, voucher_id, program_id, value, jti, service, now
    )
    write_rows(session, made.rows)
    return made.view


def program_id_of(
    ctx: ServiceContext, ref: VoucherRef, scalar: Callable[[Select[str]], str | None]
) -> str | None:
    """The id of the programme a token names by its code (None for a code, or unknown),
    looked up with `scalar` the first time the process meets that code."""
    if ref.program_code is None:
        return None
    return ctx.program_ids.get(
        ref.program_code, lambda code: scalar(select(Program.id).where(Program.code == code))
    )


def _examine(
    session: Session,
    ctx: ServiceContext,
    ref: VoucherRef,
    partner_id: str,
    now: datetime,
    program_id: str | None = None,
    address: str | None = None,
) -> tuple[Voucher, ServiceError | None]:
    """The voucher and the rule's refusal; not-found (rate-limited for codes) when not ours.
    An unknown code counts against the partner and the client's address."""
    program_id = program_id or program_id_of(ctx, ref, session.scalar)
    found = examine(session, ref, program_id, partner_id, now)
    if found is None:
        if not ref.by_token and not ctx.limiter.record_failure(partner_id, address):
            raise _too_many_codes(ctx)
        raise VoucherNotFound(
            "unknown voucher" if ref.by_token else "no voucher of ours has this code"
        )
    return found


def ensure_codes_allowed(
    ctx: ServiceContext, ref: VoucherRef, partner_id: str, address: str | None = None
) -> None:
    """A partner, or a client address, over its allowance of unknown codes has every code
    refused, the right ones too, until the window ends: the limit must not tell a good guess
    from a bad one. Tokens are never limited (nor is the limiter's store asked about them)."""
    if not ref.by_token and ctx.limiter.over_limit(partner_id, address):
        raise _too_many_codes(ctx)


def _too_many_codes(ctx: ServiceContext) -> RateLimited:
    window = ctx.settings.code_failure_window_seconds
    return RateLimited(
        "too many unknown codes from this partner or this address: every code is refused "
        "until the window is over",
        retry_after=seconds_left(window),
    )


@dataclass(frozen=True)
class PreparedRedemption:
    """Everything a redemption writes and answers, computed before the database is touched."""

    transfer: RecordedTransfer
    rows: Rows
    view: dict[str, Any]


def prepare_redemption(
    ctx: ServiceContext,
    partner_id: str,
    voucher_id: str,
    program_id: str,
    value: int,
    jti: str,
    service: str | None,
    now: datetime,
) -> PreparedRedemption:
    """The rows a redemption inserts, one list for both executors, and its answer."""
    redemption_id = new_id()
    transfer = kinds.redeem(now, program_id, partner_id, voucher_id, redemption_id, value)
    receipt = sign_receipt(ctx, redemption_id, voucher_id, jti, partner_id, value, now, transfer)
    row = {
        "id": redemption_id,
        "voucher_id": voucher_id,
        "program_id": program_id,
        "partner_id": partner_id,
        "value_cents": value,
        "service": service,
        "redeemed_at": now,
        "transfer_id": transfer.id,
        "leaf_hash": transfer.leaf_hash_b64,
        "receipt": receipt,
    }
    rows = [*transfer_rows(transfer), (cast(Table, Redemption.__table__), row)]
    return PreparedRedemption(transfer, rows, redemption_view(row))


def sign_receipt(
    ctx: ServiceContext,
    redemption_id: str,
    voucher_id: str,
    jti: str,
    partner_id: str,
    value: int,
    now: datetime,
    transfer: RecordedTransfer,
) -> str:
    """A signed promise that the entry will be in the log (as a CT SCT is)."""
    return sign(
        ctx.keys.voucher.current,
        {
            "iss": ctx.settings.issuer,
            "sub": redemption_id,
            "voucher_id": voucher_id,
            "voucher_jti": jti,
            "partner_id": partner_id,
            "value_cents": value,
            "currency": CURRENCY,
            "redeemed_at": rfc3339(now),
            "iat": int(now.timestamp()),
            "ledger_entry_id": transfer.id,
            "leaf_hash": transfer.leaf_hash_b64,
        },
    )


def redemption_view(redemption: Redemption | dict[str, Any]) -> dict[str, Any]:
    """A redemption as the API shows it, from its row or its model."""
    r = redemption if isinstance(redemption, dict) else vars(redemption)
    reversed_at = r.get("reversed_at")
    return {
        "id": r["id"],
        "voucher_id": r["voucher_id"],
        "program_id": r["program_id"],
        "partner_id": r["partner_id"],
        "value_cents": r["value_cents"],
        "currency": CURRENCY,
        "service": r["service"],
        "redeemed_at": rfc3339(r["redeemed_at"]),
        "reversed_at": None if reversed_at is None else rfc3339(reversed_at),
        "reversal_reason": r.get("reversal_reason"),
        "ledger_entry": {"id": r["transfer_id"], "leaf_hash": r["leaf_hash"]},
        "receipt": r["receipt"],
    }


def reverse(
    database: Database,
    ctx: ServiceContext,
    partner: Principal,
    redemption_id: str,
    reason: str,
    now: datetime,
) -> dict[str, Any]:
    """Undo a partner's own redemption within the window: the voucher is redeemable again.
    A redemption in a live statement is refused: it is being paid, or was."""
    with database.atomic() as session:
        # Locked first, then checked: a settlement that took it commits its line before this
        # read sees the row; one that comes later waits, then skips it (it is reversed).
        redemption = session.get(Redemption, redemption_id, with_for_update=True)
        if redemption is None or redemption.partner_id != partner.partner_id:
            raise NotFound(f"no redemption {redemption_id}")
        ensure_not_settled(session, redemption.id)
        ensure_reversible(redemption, ctx.settings.reversal_window_hours, now)
        undone = session.execute(
            update(Redemption)
            .where(Redemption.id == redemption.id, Redemption.reversed_at.is_(None))
            .values(reversed_at=now, reversal_reason=reason)
        )
        if getattr(undone, "rowcount", 0) != 1:
            raise ReversalNotAllowed("this redemption was reversed already")
        # The booklet shared-locked (a cancellation locks it for update): a cancellation that
        # committed first is seen here, one that comes later sees the voucher issued again.
        booklet = session.scalar(
            select(Booklet)
            .join(Voucher, Voucher.booklet_id == Booklet.id)
            .where(Voucher.id == redemption.voucher_id)
            .with_for_update(read=True, of=Booklet)
        )
        assert booklet is not None  # every voucher is in a booklet
        session.execute(
            update(Voucher)
            .where(Voucher.id == redemption.voucher_id, Voucher.status == REDEEMED)
            .values(status=ISSUED, redeemed_at=None)
        )
        transfer = write_transfer(
            session,
            kinds.reverse(
                now,
                redemption.program_id,
                redemption.partner_id,
                redemption.voucher_id,
                redemption.id,
                redemption.transfer_id,
                redemption.value_cents,
            ),
        )
        session.execute(
            update(Redemption)
            .where(Redemption.id == redemption.id)
            .values(reversal_transfer_id=transfer.id)
        )
        if booklet.cancelled_at is not None:
            _cancel_reversed(session, booklet, redemption, now)
        session.refresh(redemption)
        return redemption_view(redemption)


def _cancel_reversed(
    session: Session, booklet: Booklet, redemption: Redemption, now: datetime
) -> None:
    """A voucher of a lost booklet (cancelled, perhaps reissued already) whose redemption is
    undone does not come back into circulation: it is cancelled, as its cancellation would
    have done, and its value goes back to the programme."""
    withdrawn = session.execute(
        update(Voucher)
        .where(Voucher.id == redemption.voucher_id, Voucher.status == ISSUED)
        .values(status=CANCELLED)
        .returning(Voucher.id, Voucher.value_cents)
        .execution_options(synchronize_session=False)
    ).all()
    if withdrawn:
        write_transfer(
            session,
            kinds.cancel(
                now,
                booklet.program_id,
                [row.id for row in withdrawn],
                sum(row.value_cents for row in withdrawn),
                booklet_id=booklet.id,
                organisation_id=booklet.organisation_id,
            ),
        )


def ensure_not_settled(session: Session, redemption_id: str) -> None:
    """A redemption in a live statement (in payment, or paid) is never reversed: a correction
    is a new transfer in a later period. One whose payment was rejected is no longer in one."""
    settled = session.scalar(
        select(SettlementLine.id).where(
            SettlementLine.redemption_id == redemption_id, SettlementLine.released_at.is_(None)
        )
    )
    if settled is not None:
        raise ReversalNotAllowed("this redemption is settled: it is in a partner's statement")


def ensure_reversible(redemption: Redemption, window_hours: float, now: datetime) -> None:
    if redemption.reversed_at is not None:
        raise ReversalNotAllowed("this redemption was reversed already")
    if now - redemption.redeemed_at > timedelta(hours=window_hours):
        raise ReversalNotAllowed(
            f"a redemption can be reversed within {window_hours:g} h; this one is older"
        )


def list_redemptions(
    database: Database,
    principal: Principal,
    start: datetime | None,
    end: datetime | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """Redemptions in time order, a page at a time; a partner sees only its own."""
    query = select(Redemption)
    if principal.role == "partner":
        query = query.where(Redemption.partner_id == principal.partner_id)
    if start is not None:
        query = query.where(Redemption.redeemed_at >= start)
    if end is not None:
        query = query.where(Redemption.redeemed_at < end)
    with database.read() as session:
        page, next_cursor = page_of(
            session, query, Redemption.redeemed_at, Redemption.id, limit, cursor
        )
        return {"items": [redemption_view(r) for r in page], "next_cursor": next_cursor}


def get_redemption(database: Database, principal: Principal, redemption_id: str) -> dict[str, Any]:
    """One redemption; another partner's is reported missing, as if it did not exist."""
    with database.read() as session:
        redemption = session.get(Redemption, redemption_id)
        if redemption is None or (
            principal.role == "partner" and redemption.partner_id != principal.partner_id
        ):
            raise NotFound(f"no redemption {redemption_id}")
        return redemption_view(redemption)
