"""Issue 7 (12, 13): PostgreSQL lost and found again, its connections cut from under us.

The service reaches PostgreSQL through a TCP forwarder the test can cut and restore, as a
restart or a network fault would; or its connections are terminated on the server.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask

from tests.conftest import World, make_world
from voucher_service.config import Settings
from voucher_service.db import Database
from voucher_service.web.app import create_app

pytestmark = pytest.mark.xdist_group("faults")


class Forwarder:
    """Forwards TCP connections to PostgreSQL until cut: then every live connection is
    closed and new ones are closed as soon as they are accepted, until restored."""

    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.live: set[socket.socket] = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.live |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                self._close(end)

    def _close(self, end: socket.socket) -> None:
        with self.lock:
            self.live.discard(end)
        with contextlib.suppress(OSError):
            end.shutdown(socket.SHUT_RDWR)
        end.close()

    def cut(self) -> None:
        self.up = False
        with self.lock:
            live = list(self.live)
        for end in live:
            self._close(end)

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.fixture
def pg_url(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's connections and server")
    return database_url


@pytest.fixture
def forwarder() -> Iterator[Forwarder]:
    made = Forwarder()
    yield made
    made.close()


@pytest.fixture
def cut_app(pg_url: str, forwarder: Forwarder, keys_dir: Path) -> Iterator[Flask]:
    """The service, reaching PostgreSQL through the forwarder."""
    url = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{forwarder.port}")
    assert url != pg_url
    settings = Settings(
        database_url=url,
        keys_dir=keys_dir,
        public_base_url="https://pass.example.fr",
        run_sequencer=False,
    )
    database = Database(url)
    app = create_app(settings, database, start_sequencer=False)
    app.testing = True
    yield app
    database.dispose()


def _requests(world: World) -> list[Any]:
    """One of each kind of work: a read, an issuance, redemptions by token and by code."""
    booklet = world.issue(f"case-{uuid.uuid4().hex[:6]}", size=2)
    if booklet.status_code != 201:
        return [booklet]
    vouchers = booklet.json["vouchers"]
    return [
        booklet,
        world.client.get(f"/v1/programs/{world.program_id}", headers=world.headers("admin")),
        world.redeem(token=vouchers[0]["token"]),
        world.redeem(code=vouchers[1]["code"]),
        world.client.get("/v1/redemptions", headers=world.headers("partner")),
    ]


def test_an_unreachable_database_is_503_then_the_service_recovers(
    cut_app: Flask, forwarder: Forwarder
) -> None:
    world = make_world(cut_app, cut_app.test_client())
    assert all(r.status_code < 300 for r in _requests(world))

    forwarder.cut()
    answers = [
        world.issue("case-down"),
        world.client.get(f"/v1/programs/{world.program_id}", headers=world.headers("admin")),
        world.redeem(code="0000-0000-0000-0"),
        world.client.get("/v1/redemptions", headers=world.headers("partner")),
        world.client.get("/readyz"),
    ]
    for answer in answers:
        assert answer.status_code == 503, answer.data
        assert answer.mimetype == "application/problem+json"
        assert answer.json["type"].endswith("/problems/service-unavailable")
        assert int(answer.headers["Retry-After"]) > 0

    forwarder.restore()
    for _ in range(3):
        assert [r.status_code for r in _requests(world)] == [201, 200, 201, 201, 200]
    assert world.client.get("/readyz").status_code == 200


def _terminate_backends(url: str) -> int:
    """pg_terminate_backend on every connection of the service's database but ours, and
    wait until they are gone (the call only signals them)."""
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    others = "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    with psycopg.connect(dsn, autocommit=True) as connection:
        rows = connection.execute(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity {others}"
        ).fetchall()
        deadline = time.monotonic() + 10
        while (
            connection.execute(f"SELECT count(*) FROM pg_stat_activity {others}").fetchone() != (0,)
            and time.monotonic() < deadline
        ):
            time.sleep(0.01)
    return len(rows)


def test_terminated_connections_give_no_5xx(app: Flask, pg_url: str) -> None:
    world = make_world(app, app.test_client())

    def work(_: int) -> list[int]:
        mine = World(app.test_client(), *_world_ids(world))
        return [r.status_code for r in _requests(mine)]

    with ThreadPoolExecutor(4) as pool:
        assert all(s < 300 for batch in pool.map(work, range(8)) for s in batch)
        for _round in range(3):
            assert _terminate_backends(pg_url) > 0  # the pooled connections, now dead
            statuses = [s for batch in pool.map(work, range(12)) for s in batch]
            assert len(statuses) == 60
            assert all(s < 500 for s in statuses), statuses


def _world_ids(world: World) -> tuple[Any, ...]:
    return (
        world.program_id,
        world.organisation_id,
        world.partner_id,
        world.other_partner_id,
        world.keys,
    )


def test_ready_when_the_database_answers_and_takes_writes(client: Any) -> None:
    answer = client.get("/readyz")
    assert answer.status_code == 200
    assert answer.json == {"status": "ok", "database": "ok"}


def test_not_ready_when_the_sqlite_disk_is_full(
    client: Any, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk fails SQLite's writes with "disk I/O error" while reads still pass: the
    probe looks at the room left on the database's disk."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's file")
    import shutil

    from voucher_service import health

    free = shutil.disk_usage(Path(database_url.split("///", 1)[1]).parent).free
    monkeypatch.setattr(health, "MIN_FREE_BYTES", free + 1)
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json["type"].endswith("/problems/service-unavailable")
    assert answer.json["detail"] == "the database's disk is full"


def test_a_read_only_postgresql_is_not_ready_and_writes_are_503(app: Flask, pg_url: str) -> None:
    world = make_world(app, app.test_client())
    dsn = pg_url.replace("postgresql+psycopg://", "postgresql://")
    name = dsn.rsplit("/", 1)[1]
    admin = dsn.rsplit("/", 1)[0] + "/test"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    try:
        _terminate_backends(pg_url)  # new sessions take the setting
        ready = world.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json["detail"] == "the database is read-only"
        issued = world.issue("case-ro")
        assert issued.status_code == 503
        assert issued.json["type"].endswith("/problems/service-unavailable")
        assert int(issued.headers["Retry-After"]) > 0
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
        _terminate_backends(pg_url)
    assert world.client.get("/readyz").status_code == 200
    assert world.issue("case-rw").status_code == 201
