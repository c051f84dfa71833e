"""Idempotency keys claimed inside the use case's own transaction (CONTRACT §4)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

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


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: str


def claim(session: Session, idem: Idempotency, now: datetime) -> StoredResponse | None:
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
    return StoredResponse(row.status_code, row.body)


def store(session: Session, idem: Idempotency, status: int, body: str) -> None:
    """Keep the successful answer with the key, in the same transaction as the change."""
    session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.principal_id == idem.principal_id)
        .where(IdempotencyRecord.key == idem.key)
        .values(status_code=status, body=body)
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


def run_once(
    session: Session,
    idem: Idempotency,
    now: datetime,
    status: int,
    produce: Callable[[], dict[str, Any]],
) -> Outcome:
    """Claim the key, run the use case and keep its answer; or replay the first answer."""
    stored = claim(session, idem, now)
    if stored is not None:
        return Outcome(stored.status, stored.body, replayed=True)
    body = encode_body(produce())
    store(session, idem, status, body)
    return Outcome(status, body, replayed=False)
