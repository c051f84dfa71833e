"""Partners: the qualified digital-mediation venues that accept vouchers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Float, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from voucher_service.db import Base, UTCDateTime, new_id

partner_programs = Table(
    "partner_programs",
    Base.metadata,
    Column("partner_id", String(36), ForeignKey("partners.id"), primary_key=True),
    Column("program_id", String(36), ForeignKey("programs.id"), primary_key=True),
)


class Partner(Base):
    __tablename__ = "partners"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    siret: Mapped[str] = mapped_column(String(14), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(500))
    postcode: Mapped[str] = mapped_column(String(10))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    services: Mapped[list[str]] = mapped_column(JSON)
    # {"mo": [["09:00", "12:00"], ...], ...}: see partners/opening_hours.py; None when unknown.
    opening_hours: Mapped[dict[str, list[list[str]]] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Where its statements are paid (PUT /v1/partners/{id}/bank-account): the IBAN and BIC
    # checked and stored compact (no spaces); None until the admin gives them.
    bank_holder: Mapped[str | None] = mapped_column(String(70))
    bank_iban: Mapped[str | None] = mapped_column(String(34))
    bank_bic: Mapped[str | None] = mapped_column(String(11))
