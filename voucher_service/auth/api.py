"""Use cases of API keys: mint one (shown once), find who presents one, and remember it briefly."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from voucher_service.auth.models import ROLES, ApiKey
from voucher_service.clock import rfc3339
from voucher_service.db import Database
from voucher_service.errors import InvalidRequest, NotFound
from voucher_service.organisations.models import Organisation
from voucher_service.partners.models import Partner

KEY_PREFIX = "vsk_"
CACHE_SECONDS = 1.0  # how long a revoked key may still pass on a worker


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key, its role and the tenant it is bound to."""

    id: str
    role: str
    organisation_id: str | None = None
    partner_id: str | None = None

    def sees_organisation(self, organisation_id: str) -> bool:
        """An issuer sees its own organisation's objects only; other roles that reach the
        route see them all. What it may not see is reported missing, never forbidden."""
        return self.role != "issuer" or self.organisation_id == organisation_id


def hash_api_key(key: str) -> str:
    # Keys carry 256 random bits: a fast hash is enough, no stretching needed.
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(
    database: Database,
    role: str,
    now: datetime,
    organisation_id: str | None = None,
    partner_id: str | None = None,
    label: str = "",
) -> dict[str, Any]:
    """A new key, shown this once with what it is bound to; only its hash is kept."""
    with database.atomic() as session:
        api_key, plain = add_api_key(session, role, now, organisation_id, partner_id, label)
        return api_key_view(api_key, plain)


def add_api_key(
    session: Session,
    role: str,
    now: datetime,
    organisation_id: str | None = None,
    partner_id: str | None = None,
    label: str = "",
) -> tuple[ApiKey, str]:
    """A new key; the plain key is returned once and never stored."""
    check_key_binding(session, role, organisation_id, partner_id)
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey(
        key_hash=hash_api_key(plain),
        role=role,
        organisation_id=organisation_id,
        partner_id=partner_id,
        label=label,
        created_at=now,
    )
    session.add(api_key)
    session.flush()
    return api_key, plain


def api_key_view(api_key: ApiKey, plain: str) -> dict[str, Any]:
    """A new key as it is shown, this once, with its secret."""
    return {
        "id": api_key.id,
        "key": plain,
        "role": api_key.role,
        "organisation_id": api_key.organisation_id,
        "partner_id": api_key.partner_id,
        "label": api_key.label,
    }


def api_key_record(api_key: ApiKey) -> dict[str, Any]:
    """A key as it is listed: what it is bound to and when, never its secret."""
    return {
        "id": api_key.id,
        "role": api_key.role,
        "organisation_id": api_key.organisation_id,
        "partner_id": api_key.partner_id,
        "label": api_key.label,
        "created_at": rfc3339(api_key.created_at),
        "revoked_at": None if api_key.revoked_at is None else rfc3339(api_key.revoked_at),
    }


def list_api_keys(database: Database) -> dict[str, Any]:
    with database.read() as session:
        keys = session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id))
        return {"items": [api_key_record(key) for key in keys]}


def get_api_key(database: Database, key_id: str) -> dict[str, Any]:
    """One key as it is listed: never its secret."""
    with database.read() as session:
        api_key = session.get(ApiKey, key_id)
        if api_key is None:
            raise NotFound(f"no API key {key_id}")
        return api_key_record(api_key)


def revoke_api_key(database: Database, key_id: str, now: datetime) -> dict[str, Any]:
    """The key stops working at once here, and within CACHE_SECONDS on every worker; a key
    revoked already keeps its first revocation time."""
    with database.atomic() as session:
        api_key = session.get(ApiKey, key_id)
        if api_key is None:
            raise NotFound(f"no API key {key_id}")
        if api_key.revoked_at is None:
            api_key.revoked_at = now
            session.flush()
        return api_key_record(api_key)


def check_key_binding(
    session: Session, role: str, organisation_id: str | None, partner_id: str | None
) -> None:
    """An issuer key names its organisation, a partner key its venue, the others nothing."""
    if role not in ROLES:
        raise InvalidRequest(f"unknown role {role!r}", [{"path": "/role", "message": "unknown"}])
    wants_org, wants_partner = role == "issuer", role == "partner"
    if wants_org != (organisation_id is not None):
        raise InvalidRequest(
            "an issuer key, and only an issuer key, is bound to an organisation",
            [{"path": "/organisation_id", "message": "required for issuer, refused otherwise"}],
        )
    if wants_partner != (partner_id is not None):
        raise InvalidRequest(
            "a partner key, and only a partner key, is bound to a partner",
            [{"path": "/partner_id", "message": "required for partner, refused otherwise"}],
        )
    if organisation_id is not None and session.get(Organisation, organisation_id) is None:
        raise InvalidRequest(
            "unknown organisation",
            [{"path": "/organisation_id", "message": "no such organisation"}],
        )
    if partner_id is not None and session.get(Partner, partner_id) is None:
        raise InvalidRequest(
            "unknown partner", [{"path": "/partner_id", "message": "no such partner"}]
        )


def find_principal(database: Database, key: str) -> Principal | None:
    """Who presents this key, or None when it is unknown or revoked."""
    with database.read() as session:
        row = session.execute(
            select(ApiKey.id, ApiKey.role, ApiKey.organisation_id, ApiKey.partner_id).where(
                ApiKey.key_hash == hash_api_key(key), ApiKey.revoked_at.is_(None)
            )
        ).first()
    return None if row is None else Principal(*row)


class PrincipalCache:
    """A short-lived cache of key lookups: the hot path skips a query, revocation lags ≤ 1 s."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Principal | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: str, principal: Principal) -> None:
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + CACHE_SECONDS, principal)
