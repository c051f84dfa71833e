"""Organisations: the distributors (CCAS, mairies, associations) whose social workers issue."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Float, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from voucher_service.db import Base, UTCDateTime, new_id

organisation_programs = Table(
    "organisation_programs",
    Base.metadata,
    Column("organisation_id", String(36), ForeignKey("organisations.id"), primary_key=True),
    Column("program_id", String(36), ForeignKey("programs.id"), primary_key=True),
)


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(50))
    # Where the organisation receives people: the booklet letter's fallback for "nearest venues".
    address: Mapped[str | None] = mapped_column(String(500))
    postcode: Mapped[str | None] = mapped_column(String(10))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
