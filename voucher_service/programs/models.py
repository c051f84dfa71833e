"""Programmes: a funder's budget of vouchers, their face value, validity and territory."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from voucher_service.db import Base, UTCDateTime, new_id


class Program(Base):
    __tablename__ = "programs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    funder: Mapped[str] = mapped_column(String(200))
    budget_cents: Mapped[int] = mapped_column(BigInteger)
    face_value_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    booklet_size: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime)
    voucher_validity_days: Mapped[int] = mapped_column(Integer)
    max_vouchers_per_beneficiary: Mapped[int] = mapped_column(Integer)
    territory: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
