"""Use cases of API keys: mint one (shown once), and find who presents one."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from voucher_service.auth.models import ROLES, ApiKey
from voucher_service.errors import InvalidRequest
from voucher_service.organisations.models import Organisation
from voucher_service.partners.models import Partner

KEY_PREFIX = "vsk_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key, its role and the tenant it is bound to."""

    id: str
    role: str
    organisation_id: str | None = None
    partner_id: str | None = None


def hash_api_key(key: str) -> str:
    # Keys carry 256 random bits: a fast hash is enough, no stretching needed.
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(
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


def find_principal(session: Session, key: str) -> Principal | None:
    row = session.execute(
        select(ApiKey.id, ApiKey.role, ApiKey.organisation_id, ApiKey.partner_id).where(
            ApiKey.key_hash == hash_api_key(key), ApiKey.revoked_at.is_(None)
        )
    ).first()
    return None if row is None else Principal(*row)
