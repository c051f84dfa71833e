"""Writes transfers: balanced postings, the entry's canonical form and its unsequenced leaf."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import rfc8785
from sqlalchemy import insert
from sqlalchemy.orm import Session

from voucher_service.clock import rfc3339
from voucher_service.db import new_id
from voucher_service.ledger.merkle import leaf_hash
from voucher_service.ledger.models import LedgerPosting, LedgerTransfer, LogQueue


@dataclass(frozen=True)
class Posting:
    source: str
    destination: str
    amount: int

    def __post_init__(self) -> None:
        if self.amount <= 0 or self.source == self.destination:
            raise ValueError(f"a posting moves a positive amount between two accounts: {self}")


@dataclass(frozen=True)
class RecordedTransfer:
    id: str
    leaf_hash: bytes
    entry: dict[str, Any]

    @property
    def leaf_hash_b64(self) -> str:
        return base64.b64encode(self.leaf_hash).decode()

    def reference(self) -> dict[str, str]:
        """How an answer names its ledger entry."""
        return {"id": self.id, "leaf_hash": self.leaf_hash_b64}


def canonical(entry: dict[str, Any]) -> bytes:
    """RFC 8785 (JCS): the bytes every leaf hash is taken over."""
    return bytes(rfc8785.dumps(entry))


def record_transfer(
    session: Session,
    kind: str,
    at: datetime,
    postings: list[Posting],
    *,
    program_id: str | None = None,
    partner_id: str | None = None,
    transfer_id: str | None = None,
    **refs: Any,
) -> RecordedTransfer:
    """Insert a transfer, its postings and its place in the log queue (caller's transaction)."""
    if not postings:
        raise ValueError("a transfer has at least one posting")
    transfer_id = transfer_id or new_id()
    entry: dict[str, Any] = {
        "id": transfer_id,
        "kind": kind,
        "at": rfc3339(at),
        "postings": [
            {"source": p.source, "destination": p.destination, "amount": p.amount} for p in postings
        ],
    }
    if program_id is not None:
        entry["program_id"] = program_id
    if partner_id is not None:
        entry["partner_id"] = partner_id
    entry.update({name: value for name, value in refs.items() if value is not None})
    data = canonical(entry)
    digest = leaf_hash(data)
    session.execute(
        insert(LedgerTransfer),
        [
            {
                "id": transfer_id,
                "kind": kind,
                "at": at,
                "program_id": program_id,
                "partner_id": partner_id,
                "entry": data.decode(),
                "leaf_hash": digest,
            }
        ],
    )
    session.execute(
        insert(LedgerPosting),
        [{"transfer_id": transfer_id, **posting} for posting in entry["postings"]],
    )
    session.execute(insert(LogQueue), [{"transfer_id": transfer_id}])
    return RecordedTransfer(transfer_id, digest, entry)
