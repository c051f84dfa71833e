"""Whether the service can serve requests now: its JSON Schemas load, and the database answers
and can take writes."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from voucher_service.db import Database
from voucher_service.schemas import all_schemas

# Below this, SQLite's next checkpoint or page split may fail with "disk I/O error".
MIN_FREE_BYTES = 64 * 1024 * 1024

log = logging.getLogger(__name__)


def not_ready(database: Database, min_free_bytes: int | None = None) -> str | None:
    """Why a request would fail now, or None when ready: the database must answer, and
    take writes (PostgreSQL not a read-only standby; SQLite's file and folder writable with
    room left on their disk), and the JSON Schemas that validate every body must load (an
    install without them would fail every request). Cheap enough for a probe every few
    seconds: no write lock, and the schemas are read once."""
    try:
        all_schemas()
    except (RuntimeError, OSError, ValueError) as error:
        log.error("not ready: %s", error)  # the path stays in the log, not in the answer
        return "the JSON Schemas cannot be loaded"
    try:
        with database.read() as session:
            if database.dialect == "postgresql":
                read_only = session.scalar(
                    text(
                        "SELECT pg_is_in_recovery() "
                        "OR current_setting('default_transaction_read_only') = 'on'"
                    )
                )
                if read_only:
                    return "the database is read-only"
            else:
                session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return "the database does not answer"
    path = sqlite_path(database)
    if path is not None:
        if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            return "the database file is read-only"
        if shutil.disk_usage(path.parent).free < (min_free_bytes or MIN_FREE_BYTES):
            return "the database's disk is full"
    return None


def sqlite_path(database: Database) -> Path | None:
    """The file of an SQLite database; None for PostgreSQL or an in-memory one."""
    name = database.engine.url.database
    if database.dialect != "sqlite" or not name or name == ":memory:":
        return None
    return Path(name)
