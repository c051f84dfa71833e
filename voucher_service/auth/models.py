"""API keys: random bearer secrets, stored only as hashes, each bound to a role and a tenant."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from voucher_service.db import Base, UTCDateTime, new_id

ROLES = ("admin", "issuer", "partner", "auditor")


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    organisation_id: Mapped[str | None] = mapped_column(ForeignKey("organisations.id"))
    partner_id: Mapped[str | None] = mapped_column(ForeignKey("partners.id"))
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
