"""Programmes: a funder's budget of vouchers, their face value, validity and territory."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from voucher_service.db import Base, UTCDateTime, new_id
from voucher_service.statuslists.capacity import MIN_CAPACITY


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
    # The programme's Token Status List: its size, and how many of its indices vouchers hold
    # (kept here, under the row lock issuance takes, so that the list grows when half full).
    status_list_capacity: Mapped[int] = mapped_column(Integer, default=MIN_CAPACITY)
    status_list_count: Mapped[int] = mapped_column(Integer, default=0)
    # The funder's account that pays the partners (PUT /v1/programs/{id}/debtor-account), the
    # debtor of its payment files; IBAN and BIC checked, stored compact. None until given.
    debtor_name: Mapped[str | None] = mapped_column(String(70))
    debtor_iban: Mapped[str | None] = mapped_column(String(34))
    debtor_bic: Mapped[str | None] = mapped_column(String(11))
