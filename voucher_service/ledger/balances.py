"""Account balances: over a prefix of the log (the nearest snapshot plus the replay of the
postings after it), and now (the sequencer's totals plus the postings still queued)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, insert, literal, or_, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from voucher_service.ledger.models import (
    AccountTotal,
    LedgerBalanceSnapshot,
    LedgerLeaf,
    LedgerPosting,
    LedgerTransfer,
    LogQueue,
)

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


Totals = dict[tuple[str, str], int]  # (account, kind) → what that kind moved in (+) or out (-)


def current_totals(session: Session, accounts: Iterable[str]) -> Totals:
    """What each kind of transfer has moved into or out of these accounts, up to now.

    The sequencer's totals cover the integrated entries, the queue the rest: read in one
    statement, so that a batch being integrated meanwhile is counted once. The cost does
    not grow with the ledger, only with the queue (a second's worth of entries). Each
    queued posting is read once, whichever of its sides is wanted (an issue moves money
    between the two accounts of a programme's figures).
    """
    wanted = sorted(set(accounts))
    queued = (
        select(LedgerTransfer.kind, LedgerPosting.source, LedgerPosting.destination)
        .add_columns(LedgerPosting.amount)
        .select_from(LogQueue)
        .join(LedgerPosting, LedgerPosting.transfer_id == LogQueue.transfer_id)
        .join(LedgerTransfer, LedgerTransfer.id == LogQueue.transfer_id)
        .where(or_(LedgerPosting.source.in_(wanted), LedgerPosting.destination.in_(wanted)))
    )
    summed = select(AccountTotal.kind, literal(""), AccountTotal.account, AccountTotal.amount)
    totals: Totals = {}
    for kind, source, destination, amount in session.execute(
        union_all(summed.where(AccountTotal.account.in_(wanted)), queued)
    ):
        if destination in wanted:
            totals[destination, kind] = totals.get((destination, kind), 0) + int(amount)
        if source in wanted:
            totals[source, kind] = totals.get((source, kind), 0) - int(amount)
    return totals


def balance(totals: Totals, account: str) -> int:
    """An account's balance: what every kind moved into it less what they moved out."""
    return sum(amount for (name, _), amount in totals.items() if name == account)


def add_to_totals(session: Session, transfer_ids: list[str]) -> None:
    """Add what these transfers move to the totals (the sequencer, as it integrates them)."""
    moved: Totals = {}
    for kind, source, destination, amount in session.execute(
        select(LedgerTransfer.kind, LedgerPosting.source, LedgerPosting.destination)
        .add_columns(LedgerPosting.amount)
        .join(LedgerTransfer, LedgerTransfer.id == LedgerPosting.transfer_id)
        .where(LedgerPosting.transfer_id.in_(transfer_ids))
    ):
        moved[destination, kind] = moved.get((destination, kind), 0) + amount
        moved[source, kind] = moved.get((source, kind), 0) - amount
    if not moved:
        return
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(AccountTotal)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[AccountTotal.account, AccountTotal.kind],
            set_={"amount": AccountTotal.amount + statement.excluded.amount},
        ),
        [
            {"account": account, "kind": kind, "amount": amount}
            for (account, kind), amount in sorted(moved.items())
        ],
    )
