"""Writes transfers: the transfer row, its postings and its place in the log queue."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from voucher_service.ledger.models import LedgerPosting, LedgerTransfer, LogQueue
from voucher_service.ledger.transfers import RecordedTransfer

# What a use case inserts, table by table, in order: written by a session, or sent by
# PostgreSQL's one-statement redemption, from the same rows.
Rows = list[tuple[Table, dict[str, Any]]]

TRANSFERS = cast(Table, LedgerTransfer.__table__)
POSTINGS = cast(Table, LedgerPosting.__table__)
QUEUE = cast(Table, LogQueue.__table__)


def transfer_rows(transfer: RecordedTransfer) -> Rows:
    """The rows that record a transfer: itself, its postings, its place in the log queue."""
    rows: Rows = [
        (
            TRANSFERS,
            {
                "id": transfer.id,
                "kind": transfer.kind,
                "at": transfer.at,
                "program_id": transfer.program_id,
                "partner_id": transfer.partner_id,
                "entry": transfer.data.decode(),
                "leaf_hash": transfer.leaf_hash,
            },
        )
    ]
    rows += [
        (POSTINGS, {"transfer_id": transfer.id, "position": position, **posting})
        for position, posting in enumerate(transfer.entry["postings"])
    ]
    rows.append((QUEUE, {"transfer_id": transfer.id}))
    return rows


def write_rows(session: Session, rows: Rows) -> None:
    """Insert the rows in their order, in the caller's transaction."""
    for table, row in rows:
        session.execute(insert(table), [row])


def write_transfer(session: Session, transfer: RecordedTransfer) -> RecordedTransfer:
    """Record a transfer in the caller's transaction."""
    write_rows(session, transfer_rows(transfer))
    return transfer
