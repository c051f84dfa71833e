"""The sequencer: gives queued transfers contiguous leaf indices and signs a checkpoint."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import delete, func, insert, select, text, tuple_
from sqlalchemy.orm import Session

from voucher_service.clock import now
from voucher_service.context import ServiceContext
from voucher_service.db import Database
from voucher_service.ledger.balances import add_to_totals, write_snapshots
from voucher_service.ledger.merkle import CompactRange, NodeReader
from voucher_service.ledger.models import (
    LedgerCheckpoint,
    LedgerLeaf,
    LedgerNode,
    LedgerTransfer,
    LogQueue,
)
from voucher_service.ledger.note import format_checkpoint, sign_note

log = logging.getLogger(__name__)
BATCH = 5000
# pg_advisory_xact_lock key: one sequencer at a time across every worker and host.
SEQUENCER_LOCK = 0x766F7563686572


@dataclass(frozen=True)
class Integrated:
    count: int
    size: int


def integrate_batch(session: Session, ctx: ServiceContext, batch: int = BATCH) -> Integrated:
    """Sequence up to `batch` queued transfers and sign the new checkpoint, in one transaction.

    Returns count -1 when another sequencer holds the lock (nothing was done).
    """
    if not _lock(session):
        return Integrated(-1, log_size(session))
    size = log_size(session)
    pending = session.execute(
        select(LogQueue.seq, LogQueue.transfer_id, LedgerTransfer.leaf_hash)
        .join(LedgerTransfer, LedgerTransfer.id == LogQueue.transfer_id)
        .order_by(LogQueue.seq)
        .limit(batch)
    ).all()
    if not pending:
        _ensure_checkpoint(session, ctx, size)
        return Integrated(0, size)
    tree = frontier(session, size)
    leaves: list[dict[str, object]] = []
    nodes: list[dict[str, object]] = []
    for offset, (_, transfer_id, digest) in enumerate(pending):
        leaves.append({"index": size + offset, "transfer_id": transfer_id, "leaf_hash": digest})
        nodes.extend(
            {"level": level, "index": index, "hash": node}
            for level, index, node in tree.append(digest)
            if level > 0  # level 0 is read from ledger_leaves
        )
    session.execute(insert(LedgerLeaf), leaves)
    if nodes:
        session.execute(insert(LedgerNode), nodes)
    session.execute(delete(LogQueue).where(LogQueue.seq.in_([row.seq for row in pending])))
    add_to_totals(session, [row.transfer_id for row in pending])
    write_snapshots(session, size, tree.size)
    sign_checkpoint(session, ctx, tree.size, tree.root())
    return Integrated(len(pending), tree.size)


def integrate_all(database: Database, ctx: ServiceContext, batch: int = BATCH) -> Integrated:
    """Integrate everything queued now, batch after batch, each in its own transaction."""
    total = 0
    while True:
        with database.atomic() as session:
            done = integrate_batch(session, ctx, batch)
        if done.count <= 0:
            return Integrated(total, done.size)
        total += done.count


class SequencerBusy(Exception):
    """Another sequencer kept the log for longer than we were willing to wait."""


def integrate_pending(
    database: Database, ctx: ServiceContext, wait_seconds: float = 60
) -> Integrated:
    """Integrate every entry queued at the start, waiting while another sequencer holds the
    log (the background one of a worker, say); SequencerBusy if it holds it too long."""
    with database.read() as session:
        last = session.scalar(select(func.max(LogQueue.seq)))
    deadline = time.monotonic() + wait_seconds
    total = 0
    while True:
        with database.atomic() as session:
            done = integrate_batch(session, ctx)
        if done.count < 0:
            if time.monotonic() > deadline:
                raise SequencerBusy(f"another sequencer held the log for {wait_seconds:g} s")
            time.sleep(0.2)
            continue
        total += done.count
        if last is None:
            return Integrated(total, done.size)
        with database.read() as session:
            left = session.scalar(select(func.count()).where(LogQueue.seq <= last))
        if not left:
            return Integrated(total, done.size)


def _lock(session: Session) -> bool:
    if session.get_bind().dialect.name == "postgresql":
        return bool(
            session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": SEQUENCER_LOCK})
        )
    return True  # SQLite: BEGIN IMMEDIATE already made this transaction the only writer


def log_size(session: Session) -> int:
    last = session.scalar(select(func.max(LedgerLeaf.index)))
    return 0 if last is None else int(last) + 1


T = TypeVar("T")
PLACEHOLDER = bytes(32)


def with_nodes(session: Session, compute: Callable[[NodeReader], T]) -> T:
    """Run a Merkle computation over stored subtree hashes, fetching them in two queries.

    The computation is pure, so a first dry run with placeholder hashes tells which
    O(log n) nodes it needs; they are read at once, and the real run reads from memory.
    """
    wanted: list[tuple[int, int]] = []

    def record(level: int, index: int) -> bytes:
        wanted.append((level, index))
        return PLACEHOLDER

    compute(record)
    nodes = read_nodes(session, wanted)

    def read(level: int, index: int) -> bytes:
        found = nodes.get((level, index))
        if found is None:
            raise LookupError(f"the log has no node ({level}, {index})")
        return found

    return compute(read)


def read_nodes(session: Session, wanted: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """Perfect-subtree hashes: leaves from ledger_leaves, the rest from ledger_nodes."""
    leaves = [index for level, index in wanted if level == 0]
    inner = [(level, index) for level, index in wanted if level > 0]
    nodes: dict[tuple[int, int], bytes] = {}
    if leaves:
        rows = session.execute(
            select(LedgerLeaf.index, LedgerLeaf.leaf_hash).where(LedgerLeaf.index.in_(leaves))
        )
        nodes.update(((0, int(index)), bytes(digest)) for index, digest in rows)
    if inner:
        stored = session.execute(
            select(LedgerNode.level, LedgerNode.index, LedgerNode.hash).where(
                tuple_(LedgerNode.level, LedgerNode.index).in_(inner)
            )
        )
        nodes.update(((int(level), int(index)), bytes(digest)) for level, index, digest in stored)
    return nodes


def frontier(session: Session, size: int) -> CompactRange:
    """The log's right border: what appending needs."""
    return with_nodes(session, lambda read: CompactRange.from_reader(size, read))


def sign_checkpoint(session: Session, ctx: ServiceContext, size: int, root_hash: bytes) -> str:
    note = checkpoint_note(ctx, size, root_hash)
    session.execute(
        insert(LedgerCheckpoint),
        [{"size": size, "root_hash": root_hash, "note": note, "created_at": now()}],
    )
    return note


def checkpoint_note(ctx: ServiceContext, size: int, root_hash: bytes) -> str:
    origin = ctx.settings.origin
    return sign_note(format_checkpoint(origin, size, root_hash), origin, ctx.keys.ledger)


def _ensure_checkpoint(session: Session, ctx: ServiceContext, size: int) -> None:
    if size > 0 and session.get(LedgerCheckpoint, size) is None:
        tree = frontier(session, size)
        sign_checkpoint(session, ctx, size, tree.root())
