"""A person's account: an e-mail, an argon2 hash, a role and a tenant bound as an API key's."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from voucher_service.db import Base, UTCDateTime, new_id


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-cased
    role: Mapped[str] = mapped_column(String(16))
    organisation_id: Mapped[str | None] = mapped_column(ForeignKey("organisations.id"))
    partner_id: Mapped[str | None] = mapped_column(ForeignKey("partners.id"))
    password_hash: Mapped[str] = mapped_column(String(255))
    # Bumped when the account is disabled or its password changes: every session that
    # carries an older generation ends at its next request.
    session_generation: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
