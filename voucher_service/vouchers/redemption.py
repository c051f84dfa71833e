"""Verifying and redeeming a voucher exactly once, reversing a redemption, listing them."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, insert, or_, select, true, update
from sqlalchemy.orm import Session

from voucher_service.auth.api import Principal
from voucher_service.clock import parse_rfc3339, rfc3339
from voucher_service.context import ServiceContext
from voucher_service.db import new_id
from voucher_service.errors import (
    InvalidRequest,
    InvalidVoucherToken,
    NotFound,
    PartnerNotEligible,
    RateLimited,
    ReversalNotAllowed,
    ServiceError,
    VoucherAlreadyRedeemed,
    VoucherExpired,
    VoucherNotFound,
    VoucherRevoked,
)
from voucher_service.ledger import accounts
from voucher_service.ledger.transfers import (
    Posting,
    RecordedTransfer,
    build_transfer,
    write_transfer,
)
from voucher_service.partners.models import partner_programs
from voucher_service.vouchers.codes import InvalidCode, code_hash, normalise_code
from voucher_service.vouchers.models import (
    CANCELLED,
    EXPIRED,
    ISSUED,
    REDEEMED,
    Redemption,
    Voucher,
)
from voucher_service.vouchers.tokens import sign, verify_voucher

CURRENCY = "EUR"


@dataclass(frozen=True)
class VoucherRef:
    """How the partner named the voucher: by its signed token or by its typed code."""

    condition: ColumnElement[bool]
    by_code: bool
    token_value: int | None = None


def identify(ctx: ServiceContext, token: str | None, code: str | None) -> VoucherRef:
    if (token is None) == (code is None):
        raise InvalidRequest("give either a token or a code", [{"path": "", "message": "one of"}])
    if token is not None:
        claims = verify_voucher(token, ctx.keys.voucher, ctx.settings.issuer)
        return VoucherRef(Voucher.jti == claims.jti, False, claims.value_cents)
    assert code is not None
    try:
        normalised = normalise_code(code)
    except InvalidCode as error:
        raise InvalidRequest(str(error), [{"path": "/code", "message": str(error)}]) from None
    return VoucherRef(Voucher.code_hash == code_hash(ctx.keys.secret, normalised), True)


def eligible_programs(partner_id: str) -> Any:
    return select(partner_programs.c.program_id).where(partner_programs.c.partner_id == partner_id)


def refusal(
    voucher: Voucher, eligible: bool, redeemed_at: datetime | None, now: datetime
) -> ServiceError | None:
    """Why this partner could not redeem this voucher now, or None if it could."""
    if not eligible:
        return PartnerNotEligible("your venue is not affiliated to this voucher's programme")
    if voucher.status == CANCELLED:
        return VoucherRevoked("this voucher was cancelled")
    if voucher.status == REDEEMED:
        when = rfc3339(redeemed_at) if redeemed_at else None
        return VoucherAlreadyRedeemed(f"this voucher was redeemed at {when}", redeemed_at=when)
    if voucher.status == EXPIRED or voucher.expires_at <= now:
        return VoucherExpired(f"this voucher expired at {rfc3339(voucher.expires_at)}")
    return None


def load_voucher(
    session: Session, ctx: ServiceContext, partner: Principal, ref: VoucherRef
) -> tuple[Voucher, bool]:
    """The voucher and whether the partner may take it; not-found (rate-limited for codes)."""
    assert partner.partner_id is not None
    voucher = session.scalar(select(Voucher).where(ref.condition))
    if voucher is None:
        if ref.by_code and not ctx.limiter.record_failure(partner.partner_id):
            raise RateLimited("too many unknown codes: wait a minute before trying again")
        raise VoucherNotFound(
            "no voucher of ours has this code" if ref.by_code else "unknown voucher"
        )
    if ref.token_value is not None and ref.token_value != voucher.value_cents:
        raise InvalidVoucherToken("the token does not match the voucher it names")
    eligible = session.scalar(
        eligible_programs(partner.partner_id).where(
            partner_programs.c.program_id == voucher.program_id
        )
    )
    return voucher, eligible is not None


def verify(
    session: Session,
    ctx: ServiceContext,
    partner: Principal,
    token: str | None,
    code: str | None,
    now: datetime,
) -> dict[str, Any]:
    """What a redemption would meet, without changing anything."""
    voucher, eligible = load_voucher(session, ctx, partner, identify(ctx, token, code))
    reason = refusal(voucher, eligible, voucher.redeemed_at, now)
    status = voucher.status
    if status == ISSUED and voucher.expires_at <= now:
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
    session: Session,
    ctx: ServiceContext,
    partner: Principal,
    token: str | None,
    code: str | None,
    service: str | None,
    now: datetime,
) -> dict[str, Any]:
    """Flip the voucher from issued to redeemed, once: the conditional UPDATE is the guard."""
    assert partner.partner_id is not None
    ref = identify(ctx, token, code)
    # A token naming another value matches nothing here; load_voucher then says why.
    same_value = Voucher.value_cents == ref.token_value if ref.token_value is not None else true()
    claimed = session.execute(
        update(Voucher)
        .where(ref.condition, same_value, Voucher.status == ISSUED, Voucher.expires_at > now)
        .where(Voucher.program_id.in_(eligible_programs(partner.partner_id)))
        .values(status=REDEEMED, redeemed_at=now)
        .returning(Voucher.id, Voucher.program_id, Voucher.value_cents, Voucher.jti)
    ).first()
    if claimed is None:
        voucher, eligible = load_voucher(session, ctx, partner, ref)
        raise refusal(voucher, eligible, voucher.redeemed_at, now) or VoucherAlreadyRedeemed(
            "this voucher was redeemed a moment ago"
        )
    voucher_id, program_id, value, jti = claimed
    made = prepare_redemption(
        ctx, partner.partner_id, voucher_id, program_id, value, jti, service, now
    )
    write_transfer(session, made.transfer)
    session.execute(insert(Redemption), [made.row])
    return made.view


@dataclass(frozen=True)
class PreparedRedemption:
    """Everything a redemption writes and answers, computed before the database is touched."""

    transfer: RecordedTransfer
    row: dict[str, Any]
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
    redemption_id = new_id()
    transfer = build_transfer(
        "redeem",
        now,
        [
            Posting(
                accounts.program_outstanding(program_id),
                accounts.partner_payable(partner_id),
                value,
            )
        ],
        program_id=program_id,
        partner_id=partner_id,
        voucher_ids=[voucher_id],
        redemption_id=redemption_id,
    )
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
        "reversed_at": None,
        "reversal_reason": None,
        "reversal_transfer_id": None,
    }
    return PreparedRedemption(transfer, row, redemption_view(row))


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
    return {
        "id": r["id"],
        "voucher_id": r["voucher_id"],
        "program_id": r["program_id"],
        "partner_id": r["partner_id"],
        "value_cents": r["value_cents"],
        "currency": CURRENCY,
        "service": r["service"],
        "redeemed_at": rfc3339(r["redeemed_at"]),
        "reversed_at": None if r["reversed_at"] is None else rfc3339(r["reversed_at"]),
        "reversal_reason": r["reversal_reason"],
        "ledger_entry": {"id": r["transfer_id"], "leaf_hash": r["leaf_hash"]},
        "receipt": r["receipt"],
    }


def reverse(
    session: Session,
    ctx: ServiceContext,
    partner: Principal,
    redemption_id: str,
    reason: str,
    now: datetime,
) -> dict[str, Any]:
    """Undo a partner's own redemption within the window: the voucher is redeemable again."""
    redemption = session.get(Redemption, redemption_id)
    if redemption is None or redemption.partner_id != partner.partner_id:
        raise NotFound(f"no redemption {redemption_id}")
    ensure_reversible(redemption, ctx.settings.reversal_window_hours, now)
    undone = session.execute(
        update(Redemption)
        .where(Redemption.id == redemption.id, Redemption.reversed_at.is_(None))
        .values(reversed_at=now, reversal_reason=reason)
    )
    if getattr(undone, "rowcount", 0) != 1:
        raise ReversalNotAllowed("this redemption was reversed already")
    session.execute(
        update(Voucher)
        .where(Voucher.id == redemption.voucher_id, Voucher.status == REDEEMED)
        .values(status=ISSUED, redeemed_at=None)
    )
    transfer = write_transfer(
        session,
        build_transfer(
            "reverse",
            now,
            [
                Posting(
                    accounts.partner_payable(redemption.partner_id),
                    accounts.program_outstanding(redemption.program_id),
                    redemption.value_cents,
                )
            ],
            program_id=redemption.program_id,
            partner_id=redemption.partner_id,
            voucher_ids=[redemption.voucher_id],
            redemption_id=redemption.id,
            reverses=redemption.transfer_id,
        ),
    )
    session.execute(
        update(Redemption)
        .where(Redemption.id == redemption.id)
        .values(reversal_transfer_id=transfer.id)
    )
    session.refresh(redemption)
    return redemption_view(redemption)


def ensure_reversible(redemption: Redemption, window_hours: float, now: datetime) -> None:
    if redemption.reversed_at is not None:
        raise ReversalNotAllowed("this redemption was reversed already")
    if now - redemption.redeemed_at > timedelta(hours=window_hours):
        raise ReversalNotAllowed(
            f"a redemption can be reversed within {window_hours:g} h; this one is older"
        )


def list_redemptions(
    session: Session,
    principal: Principal,
    start: str | None,
    end: str | None,
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """Redemptions in time order, a page at a time; a partner sees only its own."""
    query = select(Redemption).order_by(Redemption.redeemed_at, Redemption.id).limit(limit + 1)
    if principal.role == "partner":
        query = query.where(Redemption.partner_id == principal.partner_id)
    if start is not None:
        query = query.where(Redemption.redeemed_at >= _time_param("from", start))
    if end is not None:
        query = query.where(Redemption.redeemed_at < _time_param("to", end))
    if cursor is not None:
        after_time, after_id = decode_cursor(cursor)
        query = query.where(
            or_(
                Redemption.redeemed_at > after_time,
                and_(Redemption.redeemed_at == after_time, Redemption.id > after_id),
            )
        )
    rows = list(session.scalars(query))
    page = rows[:limit]
    more = len(rows) > limit
    return {
        "items": [redemption_view(r) for r in page],
        "next_cursor": encode_cursor(page[-1].redeemed_at, page[-1].id) if more else None,
    }


def _time_param(name: str, text: str) -> datetime:
    try:
        return parse_rfc3339(text)
    except ValueError:
        raise InvalidRequest(
            f"{name} is not an RFC 3339 time", [{"path": name, "message": "RFC 3339 time"}]
        ) from None


def encode_cursor(moment: datetime, row_id: str) -> str:
    return base64.urlsafe_b64encode(f"{moment.isoformat()}|{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, row_id = raw.split("|", 1)
        return parse_rfc3339(moment), row_id
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest(
            "the cursor is not one we gave", [{"path": "cursor", "message": "unknown cursor"}]
        ) from None
