"""The JWKS: every voucher-signing public key whose vouchers can still be valid."""

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
    """The current key, and each older key until the last voucher it signed has expired."""
    horizon = now - timedelta(seconds=LEEWAY_SECONDS)
    keys = []
    for kid, key in sorted(keyring.keys.items()):
        if kid != keyring.current_kid:
            last_expiry = session.scalar(
                select(func.max(Voucher.expires_at)).where(Voucher.kid == kid)
            )
            if last_expiry is None or last_expiry < horizon:
                continue
        keys.append(key.jwk())
    return {"keys": keys}


def published_keys(database: Database, ctx: ServiceContext, now: datetime) -> dict[str, Any]:
    """The JWKS document as `/.well-known/jwks.json` serves it."""
    with database.read() as session:
        return published_jwks(session, ctx.keys.voucher, now)
