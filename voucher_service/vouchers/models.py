"""Booklets and vouchers, and the redemptions that pay partners for them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from voucher_service.db import Base, UTCDateTime, new_id

ISSUED, REDEEMED, CANCELLED, EXPIRED = "issued", "redeemed", "cancelled", "expired"
# A voucher of a pre-printed batch: it holds budget but is worth nothing until its booklet is
# activated (handed to a beneficiary), when it becomes ISSUED.
PRINTED = "printed"
# A voucher someone may still hold and use (or will, once its booklet is handed out): what
# a cancellation or an expiry withdraws.
IN_CIRCULATION = (ISSUED, PRINTED)
# A pre-printed booklet's beneficiary_hash until its activation: no case reference's hash.
NO_BENEFICIARY = ""


class BookletBatch(Base):
    """Booklets printed in advance, to be handed out (activated) one by one later."""

    __tablename__ = "booklet_batches"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    count: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(36))


class Booklet(Base):
    __tablename__ = "booklets"
    __table_args__ = (
        Index("ix_booklets_beneficiary", "program_id", "beneficiary_hash"),
        # A person's booklets within the organisation that knows their case reference.
        Index("ix_booklets_organisation_beneficiary", "organisation_id", "beneficiary_hash"),
        # A cancelled booklet is reissued at most once, whatever the concurrency.
        Index("uq_booklets_replaces", "replaces_id", unique=True),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    # A keyed hash of the issuer's case reference: enough for the cap, useless to a reader.
    # NO_BENEFICIARY for a pre-printed booklet until its activation names the beneficiary.
    beneficiary_hash: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    issued_by: Mapped[str] = mapped_column(String(36))
    transfer_id: Mapped[str] = mapped_column(String(36))
    # Pre-printed booklets only: their batch, and when and by whom they were handed out.
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("booklet_batches.id"), index=True)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    activated_by: Mapped[str | None] = mapped_column(String(36))
    # A lost or stolen booklet: when, by whom and why its unredeemed vouchers were cancelled.
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_by: Mapped[str | None] = mapped_column(String(36))
    cancellation_reason: Mapped[str | None] = mapped_column(String(500))
    # The cancelled booklet this one replaces; unique: a booklet is reissued at most once.
    replaces_id: Mapped[str | None] = mapped_column(ForeignKey("booklets.id"))


class Voucher(Base):
    __tablename__ = "vouchers"
    __table_args__ = (
        # No index covers status or redeemed_at, so a redemption's UPDATE stays HOT.
        Index("ix_vouchers_program", "program_id"),
        Index("ix_vouchers_kid_expiry", "kid", "expires_at"),
        # One voucher per index of its programme's status list (indices are drawn at random
        # under the programme's lock; this is the last guard).
        Index("uq_vouchers_program_status_index", "program_id", "status_index", unique=True),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    jti: Mapped[str] = mapped_column(String(32), unique=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    booklet_id: Mapped[str] = mapped_column(ForeignKey("booklets.id"), index=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    position: Mapped[int] = mapped_column(Integer)
    value_cents: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    kid: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Its index in its programme's Token Status List, the token's claim `s`.
    status_index: Mapped[int] = mapped_column(Integer)


# Expiry and the list of vouchers expiring soon read a programme's vouchers by expiry date.
# Declared beside the table, not in it: neither column changes on redemption, so HOT holds.
Index("ix_vouchers_program_expiry", Voucher.program_id, Voucher.expires_at)


class Redemption(Base):
    __tablename__ = "redemptions"
    __table_args__ = (
        # The last guard of exactly-once: one live redemption per voucher.
        Index(
            "uq_redemptions_live_voucher",
            "voucher_id",
            unique=True,
            sqlite_where=text("reversed_at IS NULL"),
            postgresql_where=text("reversed_at IS NULL"),
        ),
        Index("ix_redemptions_partner_time", "partner_id", "redeemed_at", "id"),
        Index("ix_redemptions_time", "redeemed_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    voucher_id: Mapped[str] = mapped_column(ForeignKey("vouchers.id"))
    program_id: Mapped[str] = mapped_column(String(36))
    partner_id: Mapped[str] = mapped_column(String(36))
    value_cents: Mapped[int] = mapped_column(Integer)
    service: Mapped[str | None] = mapped_column(String(100))
    redeemed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    transfer_id: Mapped[str] = mapped_column(String(36))
    leaf_hash: Mapped[str] = mapped_column(String(44))
    receipt: Mapped[str] = mapped_column(String(1000))
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reversal_reason: Mapped[str | None] = mapped_column(String(500))
    reversal_transfer_id: Mapped[str | None] = mapped_column(String(36))
