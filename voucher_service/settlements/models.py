"""Settlements: a programme's month paid to its partners, one statement a partner, one line a
redemption (DESIGN "The money cycle")."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from voucher_service.db import Base, UTCDateTime, new_id

# A statement's life: put into payment by its settlement, then paid once the bank confirms,
# or rejected (its redemptions payable again, to be settled anew). Paid and rejected are final.
IN_PAYMENT, PAID, REJECTED = "in_payment", "paid", "rejected"
# A settlement's status follows its statements': `empty` (nothing was left to settle),
# `in_payment` (one at least still waits for the bank), else `paid` (every one paid),
# `rejected` (every one rejected) or `partly_paid` (some paid, some rejected).
EMPTY, PARTLY_PAID = "empty", "partly_paid"
SETTLEMENT_STATUSES = (EMPTY, IN_PAYMENT, PAID, REJECTED, PARTLY_PAID)


class Settlement(Base):
    __tablename__ = "settlements"
    __table_args__ = (Index("ix_settlements_program_period", "program_id", "period"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    period: Mapped[str] = mapped_column(String(7))  # "2026-11", a month of Europe/Paris
    # Redemptions before this instant (the end of the month), fixed before the selection.
    cutoff: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    total_cents: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(36))
    # The SEPA payment file, made once and kept: asking again returns these very bytes.
    payment_msg_id: Mapped[str | None] = mapped_column(String(35))
    payment_file: Mapped[bytes | None] = mapped_column(LargeBinary)
    payment_file_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Statement(Base):
    """One partner's share of a settlement: what goes into payment for it, as one transfer."""

    __tablename__ = "settlement_statements"
    __table_args__ = (
        UniqueConstraint("settlement_id", "partner_id", name="uq_statements_settlement_partner"),
        Index("ix_statements_partner", "partner_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    settlement_id: Mapped[str] = mapped_column(ForeignKey("settlements.id"))
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    count: Mapped[int] = mapped_column(Integer)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    settle_transfer_id: Mapped[str] = mapped_column(String(36))
    # The bank's answer: when it came, the pay or reject transfer, and why (a rejection).
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    close_transfer_id: Mapped[str | None] = mapped_column(String(36))
    reason: Mapped[str | None] = mapped_column(String(500))


class SettlementLine(Base):
    """A redemption in a statement. Live until its statement's payment is rejected."""

    __tablename__ = "settlement_lines"
    __table_args__ = (
        # The guard of "paid at most once", whatever the code does: a redemption is in one
        # live statement at most.
        Index(
            "uq_settlement_lines_live_redemption",
            "redemption_id",
            unique=True,
            sqlite_where=text("released_at IS NULL"),
            postgresql_where=text("released_at IS NULL"),
        ),
        Index("ix_settlement_lines_statement", "statement_id"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    statement_id: Mapped[str] = mapped_column(ForeignKey("settlement_statements.id"))
    redemption_id: Mapped[str] = mapped_column(ForeignKey("redemptions.id"))
    amount_cents: Mapped[int] = mapped_column(Integer)
    # Set when the statement's payment was rejected: the redemption may be settled again.
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
