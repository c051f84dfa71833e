"""The redemption rule, written once: what makes a voucher claimable by a partner now.

Each condition is a SQL expression paired with the refusal it stands for. Their conjunction
is the WHERE clause of the conditional UPDATE that redeems, whichever executor runs it (a
session inside a transaction, or PostgreSQL's one statement); when it matches nothing, the
same conditions, selected as columns, tell which one failed. Verification reads them too.
Values come as named parameters, so a statement can be compiled once and reused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, String, Update, and_, bindparam, select, update
from sqlalchemy.orm import Session

from voucher_service.clock import rfc3339
from voucher_service.context import ServiceContext
from voucher_service.errors import (
    InvalidRequest,
    InvalidVoucherToken,
    PartnerNotEligible,
    ServiceError,
    VoucherAlreadyRedeemed,
    VoucherExpired,
    VoucherNotActivated,
    VoucherRevoked,
)
from voucher_service.partners.models import partner_programs
from voucher_service.vouchers.codes import InvalidCode, code_hash, normalise_code
from voucher_service.vouchers.models import CANCELLED, EXPIRED, ISSUED, PRINTED, REDEEMED, Voucher
from voucher_service.vouchers.tokens import verify_voucher, voucher_id_for


@dataclass(frozen=True)
class VoucherRef:
    """How the partner named the voucher: by its signed token's claims, or by its typed code."""

    voucher_id: str | None = None  # by token: derived from the jti
    jti: str | None = None
    program_code: str | None = None
    value_cents: int | None = None
    expires_at: datetime | None = None
    code_hash: str | None = None  # by code

    @property
    def by_token(self) -> bool:
        return self.jti is not None

    def expired_token(self, now: datetime) -> VoucherExpired | None:
        """A token whose signed exp has passed is expired, whatever its row says."""
        if self.expires_at is None or self.expires_at > now:
            return None
        return expired_refusal(self.expires_at)


def identify(ctx: ServiceContext, token: str | None, code: str | None) -> VoucherRef:
    """Check the token's signature or the code's check character: nothing is looked up."""
    if (token is None) == (code is None):
        raise InvalidRequest("give either a token or a code", [{"path": "", "message": "one of"}])
    if token is not None:
        claims = verify_voucher(token, ctx.keys.voucher, ctx.settings.issuer)
        return VoucherRef(
            voucher_id=voucher_id_for(claims.jti),
            jti=claims.jti,
            program_code=claims.program_code,
            value_cents=claims.value_cents,
            expires_at=datetime.fromtimestamp(claims.expires_at, UTC),
        )
    assert code is not None
    try:
        normalised = normalise_code(code)
    except InvalidCode as error:
        raise InvalidRequest(str(error), [{"path": "/code", "message": str(error)}]) from None
    return VoucherRef(code_hash=code_hash(ctx.keys.secret, normalised))


@dataclass(frozen=True)
class Condition:
    """One part of the rule: the SQL that holds when it is met, and the refusal when not."""

    holds: ColumnElement[bool]
    refusal: Callable[[Voucher], ServiceError]


@cache
def named(by_token: bool) -> ColumnElement[bool]:
    """The voucher the request names: by the id its jti gives, or by its code's keyed hash."""
    if by_token:
        return and_(Voucher.id == bindparam("named_id"), Voucher.jti == bindparam("named_jti"))
    return Voucher.code_hash == bindparam("named_code")


@cache
def conditions(by_token: bool) -> tuple[Condition, ...]:
    """What makes the named voucher claimable by the partner now, in the order refusals go."""
    found: list[Condition] = []
    if by_token:
        found.append(
            Condition(
                and_(
                    Voucher.program_id == bindparam("token_program", type_=String()),
                    Voucher.value_cents == bindparam("token_value"),
                    Voucher.expires_at == bindparam("token_expiry"),
                ),
                lambda _: InvalidVoucherToken("the token does not match the voucher it names"),
            )
        )
    eligible = select(partner_programs.c.program_id).where(
        partner_programs.c.partner_id == bindparam("partner")
    )
    found += [
        Condition(
            Voucher.program_id.in_(eligible),
            lambda _: PartnerNotEligible(
                "your venue is not affiliated to this voucher's programme"
            ),
        ),
        # Only an issued voucher is claimable: a printed one (its booklet not yet handed out)
        # is refused as not activated, by this same condition.
        Condition(Voucher.status == ISSUED, _status_refusal),
        Condition(Voucher.expires_at > bindparam("at"), lambda v: expired_refusal(v.expires_at)),
    ]
    return tuple(found)


@cache
def claimable(by_token: bool) -> ColumnElement[bool]:
    """The whole rule: the WHERE clause of the redemption's conditional UPDATE."""
    return and_(named(by_token), *(condition.holds for condition in conditions(by_token)))


def parameters(
    ref: VoucherRef, program_id: str | None, partner_id: str, now: datetime
) -> dict[str, Any]:
    """The values of the rule's named parameters for this request."""
    if ref.by_token:
        return {
            "named_id": ref.voucher_id,
            "named_jti": ref.jti,
            "token_program": program_id,
            "token_value": ref.value_cents,
            "token_expiry": ref.expires_at,
            "partner": partner_id,
            "at": now,
        }
    return {"named_code": ref.code_hash, "partner": partner_id, "at": now}


def examine(
    session: Session, ref: VoucherRef, program_id: str | None, partner_id: str, now: datetime
) -> tuple[Voucher, ServiceError | None] | None:
    """The named voucher and why the rule refuses it (None if it holds); None if not ours."""
    rule = conditions(ref.by_token)
    row = session.execute(
        select(Voucher, *(condition.holds for condition in rule)).where(named(ref.by_token)),
        parameters(ref, program_id, partner_id, now),
    ).first()
    if row is None:
        return None
    voucher, *held = row
    for condition, holds in zip(rule, held, strict=True):
        if not holds:
            return voucher, condition.refusal(voucher)
    return voucher, None


def expired_refusal(expires_at: datetime) -> VoucherExpired:
    return VoucherExpired(f"this voucher expired at {rfc3339(expires_at)}")


def _status_refusal(voucher: Voucher) -> ServiceError:
    if voucher.status == PRINTED:
        return VoucherNotActivated(
            "this voucher's booklet was printed in advance and has not been handed to a "
            "beneficiary yet: it cannot be redeemed until its organisation activates it"
        )
    if voucher.status == CANCELLED:
        return VoucherRevoked("this voucher was cancelled")
    if voucher.status == EXPIRED:
        return expired_refusal(voucher.expires_at)
    when = rfc3339(voucher.redeemed_at) if voucher.redeemed_at else None
    return VoucherAlreadyRedeemed(f"this voucher was redeemed at {when}", redeemed_at=when)


@cache
def claim(by_token: bool) -> Update:
    """The redemption's conditional UPDATE: only a claimable voucher flips, and only once."""
    return (
        update(Voucher)
        .where(claimable(by_token))
        .values(status=REDEEMED, redeemed_at=bindparam("at"))
    )
