"""Whether the service can serve requests: readiness is the database answering."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from voucher_service.db import Database


def ready(database: Database) -> bool:
    """True when the database answers a query now."""
    try:
        with database.read() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True
