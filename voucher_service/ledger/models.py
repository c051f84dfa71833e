"""Ledger tables: insert-only transfers, postings, leaves, subtree hashes and checkpoints."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from voucher_service.db import Base, UTCDateTime

Serial = BigInteger().with_variant(Integer, "sqlite")


class LedgerTransfer(Base):
    """One balanced change of money; `entry` is its RFC 8785 form, the log leaf's content."""

    __tablename__ = "ledger_transfers"
    __table_args__ = (
        Index("ix_ledger_transfers_program", "program_id", "at"),
        Index("ix_ledger_transfers_partner", "partner_id", "at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    program_id: Mapped[str | None] = mapped_column(String(36))
    partner_id: Mapped[str | None] = mapped_column(String(36))
    entry: Mapped[str] = mapped_column(Text)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LedgerPosting(Base):
    __tablename__ = "ledger_postings"

    # The key is (transfer, position): a transfer's postings are read together, never alone.
    transfer_id: Mapped[str] = mapped_column(ForeignKey("ledger_transfers.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(100))
    destination: Mapped[str] = mapped_column(String(100))
    amount: Mapped[int] = mapped_column(BigInteger)


class LogQueue(Base):
    """Transfers committed but not yet sequenced; the sequencer empties it (not a ledger table)."""

    __tablename__ = "log_queue"

    seq: Mapped[int] = mapped_column(Serial, primary_key=True, autoincrement=True)
    transfer_id: Mapped[str] = mapped_column(String(36))


class LedgerLeaf(Base):
    __tablename__ = "ledger_leaves"

    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    transfer_id: Mapped[str] = mapped_column(ForeignKey("ledger_transfers.id"), unique=True)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LedgerNode(Base):
    """The hash of a completed perfect subtree: (level, index) covers 2**level leaves."""

    __tablename__ = "ledger_nodes"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LedgerCheckpoint(Base):
    __tablename__ = "ledger_checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LedgerBalanceSnapshot(Base):
    """Every account's balance over the first `size` entries, kept every few thousand entries
    so that balances replay only the postings since the last snapshot."""

    __tablename__ = "ledger_balance_snapshots"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    account: Mapped[str] = mapped_column(String(100), primary_key=True)
    balance: Mapped[int] = mapped_column(BigInteger)


class AccountTotal(Base):
    """What each kind of transfer has moved into (positive) or out of (negative) an account,
    over the integrated entries. The sequencer adds each batch it integrates, in the same
    transaction, so these plus the queue's postings are the balances of now: programme
    figures and budget checks read them instead of scanning vouchers. Derived, so not a
    ledger table: it is updated in place, by the sequencer alone (never a hot row)."""

    __tablename__ = "account_totals"

    account: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)
