"""Use cases of people's accounts: create one, sign in, find who holds a session, disable.

A person is bound to a role and a tenant exactly as an API key is (auth/api.check_key_binding
is the one rule). Passwords are kept as argon2id hashes (argon2-cffi's PasswordHasher), and
rehashed at sign-in when the parameters have grown since.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from voucher_service.auth.api import Principal, check_key_binding
from voucher_service.clock import rfc3339
from voucher_service.db import Database
from voucher_service.errors import Conflict, InvalidRequest, NotFound
from voucher_service.people.models import User

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # hashing is costly: a longer one is refused before it
# A plain address check (the mailbox is never written to): something@domain.tld, no space.
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")

hasher = PasswordHasher()


@lru_cache(maxsize=1)
def _decoy_hash() -> str:
    """An unknown e-mail is checked against this, so that it takes as long as a known one."""
    return hasher.hash("not a password of anyone's")


def normal_email(email: str) -> str:
    return email.strip().lower()


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRequest(
            f"the password needs at least {MIN_PASSWORD_LENGTH} characters",
            [{"path": "/password", "message": f"at least {MIN_PASSWORD_LENGTH} characters"}],
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidRequest(
            f"the password has more than {MAX_PASSWORD_LENGTH} characters",
            [{"path": "/password", "message": f"at most {MAX_PASSWORD_LENGTH} characters"}],
        )


def user_view(user: User) -> dict[str, Any]:
    """An account as it is shown: never its password or hash."""
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "organisation_id": user.organisation_id,
        "partner_id": user.partner_id,
        "created_at": rfc3339(user.created_at),
        "disabled_at": None if user.disabled_at is None else rfc3339(user.disabled_at),
    }


def get_user(database: Database, user_id: str) -> dict[str, Any]:
    """One account, as it is shown."""
    with database.read() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(f"no user {user_id}")
        return user_view(user)


def create_user(
    database: Database,
    email: str,
    role: str,
    password: str,
    now: datetime,
    organisation_id: str | None = None,
    partner_id: str | None = None,
) -> dict[str, Any]:
    """A new account; 400 on a malformed e-mail, a weak password or a wrong binding, 409 when
    the e-mail (whatever its case) has an account already."""
    email = normal_email(email)
    if len(email) > 254 or not EMAIL.match(email):
        raise InvalidRequest(
            "the e-mail address is malformed", [{"path": "/email", "message": "not an e-mail"}]
        )
    check_password_strength(password)
    password_hash = hasher.hash(password)  # before the transaction: it takes a while
    taken = f"an account with the e-mail {email} exists already"
    with database.atomic() as session:
        check_key_binding(session, role, organisation_id, partner_id)
        if session.scalar(select(User.id).where(User.email == email)) is not None:
            raise Conflict(taken)
        user = User(
            email=email,
            role=role,
            organisation_id=organisation_id,
            partner_id=partner_id,
            password_hash=password_hash,
            session_generation=0,
            created_at=now,
        )
        session.add(user)
        try:
            session.flush()
        except IntegrityError:
            raise Conflict(taken) from None
        return user_view(user)


@dataclass(frozen=True)
class SignedIn:
    """Who signed in, and the session generation their session carries."""

    principal: Principal
    generation: int


def authenticate(database: Database, email: str, password: str) -> SignedIn | None:
    """The account these credentials open, or None (unknown e-mail, wrong password, disabled
    account: one answer, which takes as long whatever was wrong)."""
    email = normal_email(email)
    if len(password) > MAX_PASSWORD_LENGTH or len(email) > 254:
        return None
    with database.read() as session:
        user = session.scalar(select(User).where(User.email == email))
        found = None if user is None else (user.id, user.password_hash, user.disabled_at)
        principal = None if user is None else _principal(user)
        generation = 0 if user is None else user.session_generation
    if found is None or principal is None:
        _verify(_decoy_hash(), password)
        return None
    user_id, password_hash, disabled_at = found
    if not _verify(password_hash, password) or disabled_at is not None:
        return None
    if hasher.check_needs_rehash(password_hash):
        fresh = hasher.hash(password)
        with database.atomic() as session:
            session.execute(
                update(User)
                .where(User.id == user_id, User.password_hash == password_hash)
                .values(password_hash=fresh)
            )
    return SignedIn(principal, generation)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _principal(user: User) -> Principal:
    return Principal(user.id, user.role, user.organisation_id, user.partner_id)


def session_principal(database: Database, user_id: str, generation: int) -> Principal | None:
    """Who holds a session: the account, read now (one query by primary key), or None when it
    was disabled or its sessions were ended since (another generation)."""
    with database.read() as session:
        row = session.execute(
            select(User.id, User.role, User.organisation_id, User.partner_id).where(
                User.id == user_id,
                User.session_generation == generation,
                User.disabled_at.is_(None),
            )
        ).first()
    return None if row is None else Principal(*row)


def disable_user(database: Database, user_id: str, now: datetime) -> dict[str, Any]:
    """The account can no longer sign in, and its sessions end at their next request."""
    with database.atomic() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(f"no user {user_id}")
        if user.disabled_at is None:
            user.disabled_at = now
            user.session_generation += 1
            session.flush()
        return user_view(user)


def change_password(database: Database, user_id: str, password: str) -> None:
    """A new password; every session of the account ends."""
    check_password_strength(password)
    password_hash = hasher.hash(password)
    with database.atomic() as session:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(f"no user {user_id}")
        user.password_hash = password_hash
        user.session_generation += 1
