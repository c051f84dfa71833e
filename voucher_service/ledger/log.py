"""Reading the log: entries, checkpoints, proofs and balances, as the auditor's API serves them."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from voucher_service.context import ServiceContext
from voucher_service.errors import InvalidRequest, NotFound
from voucher_service.ledger.merkle import (
    EMPTY_ROOT,
    consistency_proof_from_reader,
    inclusion_proof_from_reader,
)
from voucher_service.ledger.models import (
    LedgerCheckpoint,
    LedgerLeaf,
    LedgerTransfer,
)
from voucher_service.ledger.sequencer import checkpoint_note, with_nodes

Q = TypeVar("Q", bound=Select[*tuple[Any, ...]])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass(frozen=True)
class CheckpointView:
    size: int
    root_hash: bytes
    note: str


def latest_checkpoint(session: Session, ctx: ServiceContext) -> CheckpointView:
    """The newest signed checkpoint; before any entry, the empty tree's, signed now."""
    row = session.execute(
        select(LedgerCheckpoint).order_by(LedgerCheckpoint.size.desc()).limit(1)
    ).scalar()
    if row is None:
        return CheckpointView(0, EMPTY_ROOT, checkpoint_note(ctx, 0, EMPTY_ROOT))
    return CheckpointView(int(row.size), bytes(row.root_hash), row.note)


@dataclass(frozen=True)
class EntryFilter:
    program_id: str | None = None
    partner_id: str | None = None
    kind: str | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None

    def apply(self, query: Q) -> Q:
        if self.program_id is not None:
            query = query.where(LedgerTransfer.program_id == self.program_id)
        if self.partner_id is not None:
            query = query.where(LedgerTransfer.partner_id == self.partner_id)
        if self.kind is not None:
            query = query.where(LedgerTransfer.kind == self.kind)
        if self.start_at is not None:
            query = query.where(LedgerTransfer.at >= self.start_at)
        if self.end_at is not None:
            query = query.where(LedgerTransfer.at < self.end_at)
        return query


def list_entries(
    session: Session, start: int, limit: int, where: EntryFilter, up_to: int
) -> dict[str, Any]:
    """Integrated entries from index `start`, in index order, up to the checkpoint's size."""
    rows = session.execute(
        where.apply(
            select(LedgerLeaf.index, LedgerTransfer.entry, LedgerLeaf.leaf_hash)
            .join(LedgerTransfer, LedgerTransfer.id == LedgerLeaf.transfer_id)
            .where(LedgerLeaf.index >= start, LedgerLeaf.index < up_to)
        )
        .order_by(LedgerLeaf.index)
        .limit(limit + 1)
    ).all()
    items = [
        {"index": int(index), "entry": json.loads(entry), "leaf_hash": b64(bytes(digest))}
        for index, entry, digest in rows[:limit]
    ]
    return {"items": items, "next": int(rows[limit][0]) if len(rows) > limit else None}


def leaf_belongs_to(session: Session, index: int, partner_id: str | None) -> bool:
    """Whether the entry at leaf `index` concerns this partner."""
    owner = session.scalar(
        select(LedgerTransfer.partner_id)
        .join(LedgerLeaf, LedgerLeaf.transfer_id == LedgerTransfer.id)
        .where(LedgerLeaf.index == index)
    )
    return owner is not None and owner == partner_id


def entry_with_proof(
    session: Session, ctx: ServiceContext, transfer_id: str, partner_id: str | None
) -> dict[str, Any]:
    """One entry; once integrated, its index and an inclusion proof to the latest checkpoint."""
    transfer = session.get(LedgerTransfer, transfer_id)
    if transfer is None or (partner_id is not None and transfer.partner_id != partner_id):
        raise NotFound(f"no ledger entry {transfer_id}")
    answer: dict[str, Any] = {
        "id": transfer.id,
        "entry": json.loads(transfer.entry),
        "leaf_hash": b64(bytes(transfer.leaf_hash)),
        "integrated": False,
        "index": None,
        "checkpoint": None,
        "proof": None,
    }
    index = session.scalar(select(LedgerLeaf.index).where(LedgerLeaf.transfer_id == transfer.id))
    checkpoint = latest_checkpoint(session, ctx)
    if index is not None and index < checkpoint.size:
        proof = with_nodes(
            session,
            lambda read: inclusion_proof_from_reader(int(index), checkpoint.size, read),
        )
        answer.update(
            integrated=True,
            index=int(index),
            checkpoint={
                "size": checkpoint.size,
                "root_hash": b64(checkpoint.root_hash),
                "note": checkpoint.note,
            },
            proof=[b64(node) for node in proof],
        )
    return answer


def inclusion(session: Session, ctx: ServiceContext, index: int, size: int | None) -> list[str]:
    latest = latest_checkpoint(session, ctx).size
    size = latest if size is None else size
    if not 0 <= index < size <= latest:
        raise InvalidRequest(
            f"need 0 <= index < size <= {latest} (the latest checkpoint's size)",
            [{"path": "index", "message": f"index < size <= {latest}"}],
        )
    proof = with_nodes(session, lambda read: inclusion_proof_from_reader(index, size, read))
    return [b64(h) for h in proof]


def consistency(session: Session, ctx: ServiceContext, first: int, second: int) -> list[str]:
    latest = latest_checkpoint(session, ctx).size
    if not 0 <= first <= second <= latest:
        raise InvalidRequest(
            f"need 0 <= first <= second <= {latest} (the latest checkpoint's size)",
            [{"path": "first", "message": f"first <= second <= {latest}"}],
        )
    if first == 0 or first == second:
        return []
    proof = with_nodes(session, lambda read: consistency_proof_from_reader(first, second, read))
    return [b64(h) for h in proof]


def stream_entries(session: Session, size: int) -> Iterator[tuple[int, str, bytes]]:
    """(index, canonical entry, leaf hash) for the first `size` leaves, read in chunks."""
    query = (
        select(LedgerLeaf.index, LedgerTransfer.entry, LedgerLeaf.leaf_hash)
        .join(LedgerTransfer, LedgerTransfer.id == LedgerLeaf.transfer_id)
        .where(LedgerLeaf.index < size)
        .order_by(LedgerLeaf.index)
        .execution_options(yield_per=2000)
    )
    for index, entry, digest in session.execute(query):
        yield int(index), entry, bytes(digest)
