"""Account balances: the nearest snapshot plus the replay of the postings after it."""

from __future__ import annotations

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from voucher_service.ledger.models import LedgerBalanceSnapshot, LedgerLeaf, LedgerPosting

SNAPSHOT_EVERY = 10_000


def balances(session: Session, size: int) -> dict[str, int]:
    """Every account's balance over the first `size` entries: received less given.

    The nearest snapshot at or below `size` is the start; only the postings after it are
    replayed, so the cost stays bounded however long the log grows.
    """
    start = session.scalar(
        select(func.max(LedgerBalanceSnapshot.size)).where(LedgerBalanceSnapshot.size <= size)
    )
    result: dict[str, int] = {}
    if start is not None:
        snapshot = session.execute(
            select(LedgerBalanceSnapshot.account, LedgerBalanceSnapshot.balance).where(
                LedgerBalanceSnapshot.size == start
            )
        )
        result.update((account, int(balance)) for account, balance in snapshot)
    for account, change in replay(session, start or 0, size).items():
        result[account] = result.get(account, 0) + change
    return dict(sorted(result.items()))


def replay(session: Session, start: int, end: int) -> dict[str, int]:
    """What the postings of leaves [start, end) add to each account."""
    moved = (
        select(LedgerPosting.source, LedgerPosting.destination, LedgerPosting.amount)
        .join(LedgerLeaf, LedgerLeaf.transfer_id == LedgerPosting.transfer_id)
        .where(LedgerLeaf.index >= start, LedgerLeaf.index < end)
        .subquery()
    )
    change: dict[str, int] = {}
    for account, total in session.execute(
        select(moved.c.destination, func.sum(moved.c.amount)).group_by(moved.c.destination)
    ):
        change[account] = change.get(account, 0) + int(total)
    for account, total in session.execute(
        select(moved.c.source, func.sum(moved.c.amount)).group_by(moved.c.source)
    ):
        change[account] = change.get(account, 0) - int(total)
    return change


def write_snapshots(session: Session, old_size: int, new_size: int) -> None:
    """Snapshot every multiple of SNAPSHOT_EVERY that the log just reached (sequencer only)."""
    first = (old_size // SNAPSHOT_EVERY + 1) * SNAPSHOT_EVERY
    for size in range(first, new_size + 1, SNAPSHOT_EVERY):
        rows = [
            {"size": size, "account": account, "balance": balance}
            for account, balance in balances(session, size).items()
        ]
        if rows:
            session.execute(insert(LedgerBalanceSnapshot), rows)
