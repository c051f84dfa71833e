"""The JWKS: every voucher-signing public key whose vouchers can be valid, now or soon."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from voucher_service.context import ServiceContext
from voucher_service.db import Database
from voucher_service.keys import KeyRing
from voucher_service.vouchers.models import Voucher
from voucher_service.vouchers.tokens import LEEWAY_SECONDS


def published_jwks(session: Session, keyring: KeyRing, now: datetime) -> dict[str, Any]:
    """The key that signs at `now`, the next key from its publication (so that scanners learn
    it before it signs), and each other key until the last voucher it signed has expired.

    It is read from the keys directory, the database and the time alone: every worker
    publishes the same document.
    """
    schedule = keyring.schedule
    announced = {schedule.signing_kid(now), schedule.pending_kid(now)}
    older = [kid for kid in schedule.keys if kid not in announced]
    horizon = now - timedelta(seconds=LEEWAY_SECONDS)
    still_valid: set[str] = set()
    if older:
        last_expiries = session.execute(
            select(Voucher.kid, func.max(Voucher.expires_at))
            .where(Voucher.kid.in_(older))
            .group_by(Voucher.kid)
        )
        still_valid = {kid for kid, last in last_expiries if last is not None and last >= horizon}
    return {
        "keys": [
            key.jwk()
            for kid, key in sorted(schedule.keys.items())
            if kid in announced or kid in still_valid
        ]
    }


def published_keys(database: Database, ctx: ServiceContext, now: datetime) -> dict[str, Any]:
    """The JWKS document as `/.well-known/jwks.json` serves it."""
    with database.read() as session:
        return published_jwks(session, ctx.keys.voucher, now)
