"""The database: engine set-up for SQLite and PostgreSQL, and the one transaction helper."""

from __future__ import annotations

import select
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from voucher_service.ids import new_id

__all__ = ["Base", "Database", "UTCDateTime", "make_engine", "new_id"]


class Base(DeclarativeBase):
    """Every table of the service."""


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both backends (SQLite stores no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_engine(url: str, **options: Any) -> Engine:
    """An engine tuned for the backend: WAL and immediate writes on SQLite, pooled psycopg.
    A driver's error never carries the statement's parameters (an IBAN, a keyed hash) into
    a log line or an answer."""
    options.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        return _sqlite_engine(url, **options)
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    options.setdefault("pool_size", 8)
    options.setdefault("max_overflow", 8)
    # No round-trip ping per checkout (it costs about a tenth of a redemption); a pooled
    # connection the server closed is caught by a look at its socket instead.
    options.setdefault("pool_pre_ping", False)
    engine = create_engine(url, **options)
    event.listen(engine, "checkout", _refuse_closed_by_server)
    return engine


def _refuse_closed_by_server(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """An idle pooled connection has nothing to read. If its socket is readable or hung
    up, the server ended it (a restart, pg_terminate_backend, an idle timeout) and said so:
    the pool drops it and checks out another. A look at the socket, not a round trip."""
    try:
        descriptor = dbapi_connection.fileno()
    except Exception:  # psycopg raises once the connection is closed
        raise DisconnectionError("the pooled connection is closed") from None
    poller = select.poll()
    poller.register(descriptor, select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR)
    if poller.poll(0):
        raise DisconnectionError("the server closed this pooled connection")


def _sqlite_engine(url: str, **options: Any) -> Engine:
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    options.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
    engine = create_engine(url, **options)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling is replaced by explicit BEGINs below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred transaction that reads then writes fails at once with
        # "database is locked" under concurrency; writers take the lock up front.
        readonly = connection.get_execution_options().get("readonly", False)
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine


class Database:
    """Owns the engine; `atomic()` is the only place that commits."""

    def __init__(self, url: str, **options: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **options)
        self._writer = sessionmaker(self.engine, expire_on_commit=False)
        self._reader = sessionmaker(
            self.engine.execution_options(readonly=True), expire_on_commit=False
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def atomic(self) -> Iterator[Session]:
        """One use case, one transaction: commit on success, roll back on any exception."""
        with self._writer() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction (no write lock taken on SQLite)."""
        with self._reader() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
