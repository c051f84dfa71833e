"""Idempotency keys claimed inside the use case's own transaction (CONTRACT §4)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from voucher_service.db import Database
from voucher_service.errors import IdempotencyKeyInUse, IdempotencyKeyReused
from voucher_service.idempotency.models import IdempotencyRecord

RETENTION = timedelta(hours=72)
PENDING = 0


@dataclass(frozen=True)
class Idempotency:
    principal_id: str
    key: str
    fingerprint: str

    @property
    def bound(self) -> bytes:
        """What a sealed answer is bound to: it opens under this record's keys only."""
        return self.principal_id.encode() + b"\x00" + self.key.encode()


def fingerprint(secret: bytes, path: str, body: dict[str, Any]) -> str:
    """What a keyed request asks for, as a keyed hash: the body may hold a code, a token or
    a beneficiary reference, which a plain hash would let anyone holding a backup guess."""
    # Keys sorted, no white space: the same request re-serialised has the same fingerprint.
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    material = b"idempotency\x00" + path.encode() + b"\x00" + canonical.encode()
    return hmac.new(secret, material, hashlib.sha256).hexdigest()


class AnswerSeal:
    """Keeps the answers of keyed requests at rest under AES-256-GCM.

    A booklet's answer holds its codes and tokens, which are worth money: the database keeps
    them only sealed, under a key derived from the service secret (which never enters the
    database), and bound to the API key and Idempotency-Key they answer.
    """

    PREFIX = "sealed.v1."

    def __init__(self, secret: bytes) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"voucher-service answers"
        ).derive(secret)
        self._aead = AESGCM(key)

    def seal(self, body: str, idem: Idempotency) -> str:
        nonce = os.urandom(12)
        sealed = nonce + self._aead.encrypt(nonce, body.encode(), idem.bound)
        return self.PREFIX + base64.urlsafe_b64encode(sealed).decode()

    def open(self, stored: str, idem: Idempotency) -> str:
        if not stored.startswith(self.PREFIX):
            # An answer kept before sealing began: it ages out with the purge.
            return stored
        sealed = base64.urlsafe_b64decode(stored[len(self.PREFIX) :])
        try:
            return self._aead.decrypt(sealed[:12], sealed[12:], idem.bound).decode()
        except InvalidTag:
            raise StoredAnswerUnreadable(
                "the stored answer of this Idempotency-Key does not open under the service "
                "secret: it was altered or moved, or the secret changed"
            ) from None


class StoredAnswerUnreadable(RuntimeError):
    """A sealed answer that does not open: the database or the secret is not what it was."""


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: str


def claim(
    session: Session, idem: Idempotency, seal: AnswerSeal, now: datetime
) -> StoredResponse | None:
    """Claim the key for this request, or return the answer its first success gave.

    On PostgreSQL a concurrent holder of the key makes the insert wait for its commit,
    so a same-key storm ends in one execution and replays; a rolled-back holder stored
    nothing and the key is claimed afresh.
    """
    dialect = postgresql if session.bind and session.bind.dialect.name == "postgresql" else sqlite
    claimed = session.execute(
        dialect.insert(IdempotencyRecord)
        .values(
            principal_id=idem.principal_id,
            key=idem.key,
            fingerprint=idem.fingerprint,
            status_code=PENDING,
            body="",
            created_at=now,
        )
        .on_conflict_do_nothing()
        .returning(IdempotencyRecord.principal_id)
    ).first()
    if claimed is not None:
        return None
    row = session.execute(
        select(IdempotencyRecord.fingerprint, IdempotencyRecord.status_code, IdempotencyRecord.body)
        .where(IdempotencyRecord.principal_id == idem.principal_id)
        .where(IdempotencyRecord.key == idem.key)
    ).first()
    if row is None or row.status_code == PENDING:
        raise IdempotencyKeyInUse("a request with this Idempotency-Key is still running")
    if row.fingerprint != idem.fingerprint:
        raise IdempotencyKeyReused("this Idempotency-Key was used for a different request")
    return StoredResponse(row.status_code, seal.open(row.body, idem))


def store(session: Session, idem: Idempotency, status: int, sealed: str) -> None:
    """Keep the successful answer, sealed, with the key, in the same transaction as the
    change."""
    session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.principal_id == idem.principal_id)
        .where(IdempotencyRecord.key == idem.key)
        .values(status_code=status, body=sealed)
    )


def purge(database: Database, now: datetime) -> int:
    """Forget keys older than the retention (at least 24 h, as promised); how many went."""
    with database.atomic() as session:
        result = session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - RETENTION)
        )
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class Outcome:
    """What a keyed request answers: the body as sent, and whether it is a replay."""

    status: int
    body: str
    replayed: bool


def encode_body(view: dict[str, Any]) -> str:
    """The bytes of an answer, as sent and as kept for its replays."""
    return json.dumps(view, separators=(",", ":"))


def run_once_in(
    database: Database,
    idem: Idempotency,
    seal: AnswerSeal,
    now: datetime,
    status: int,
    produce: Callable[[Session], dict[str, Any]],
) -> Outcome:
    """`run_once` in a transaction of its own: what every keyed use case does (a refused
    request rolls back, and so keeps nothing of the key)."""
    with database.atomic() as session:
        return run_once(session, idem, seal, now, status, lambda: produce(session))


def run_once(
    session: Session,
    idem: Idempotency,
    seal: AnswerSeal,
    now: datetime,
    status: int,
    produce: Callable[[], dict[str, Any]],
) -> Outcome:
    """Claim the key, run the use case and keep its answer sealed; or replay the first."""
    stored = claim(session, idem, seal, now)
    if stored is not None:
        return Outcome(stored.status, stored.body, replayed=True)
    body = encode_body(produce())
    store(session, idem, status, seal.seal(body, idem))
    return Outcome(status, body, replayed=False)
