"""Fixtures: a real SQLite file and a real PostgreSQL database for every test that asks."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient

from voucher_service.clock import now, set_clock
from voucher_service.config import Settings
from voucher_service.context import ServiceContext
from voucher_service.db import Database
from voucher_service.migrate import upgrade
from voucher_service.web.app import create_app

PG_URL = os.environ.get(
    "VOUCHER_TEST_DATABASE_URL", "postgresql+psycopg://root@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI") == "true"
REDIS_URL = os.environ.get("VOUCHER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def _pg_dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _pg_available() -> bool:
    try:
        with psycopg.connect(_pg_dsn(PG_URL), connect_timeout=3):
            return True
    except psycopg.Error:
        return False


PG_AVAILABLE = _pg_available()


def pytest_report_header() -> list[str]:
    if PG_AVAILABLE:
        return [f"PostgreSQL: {PG_URL}"]
    return [
        "!" * 70,
        f"!! PostgreSQL at {PG_URL} does not answer: its half of the suite is SKIPPED",
        "!" * 70,
    ]


def pytest_sessionstart(session: pytest.Session) -> None:
    if IN_CI and not PG_AVAILABLE:
        raise pytest.UsageError(f"CI=true and PostgreSQL at {PG_URL} does not answer")


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    database = Database(f"sqlite:///{path}")
    upgrade(database)
    database.dispose()
    return path


@pytest.fixture(scope="session")
def pg_database_url(worker_id: str) -> Iterator[str]:
    if not PG_AVAILABLE:
        pytest.skip(f"PostgreSQL at {PG_URL} does not answer")
    name = f"vs_test_{worker_id}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_pg_dsn(PG_URL), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    database = Database(url)
    upgrade(database)
    database.dispose()
    yield url
    with psycopg.connect(_pg_dsn(PG_URL), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _truncate_all(url: str) -> None:
    """Empty every table; the ledger's triggers are bypassed only for this clean-up."""
    with psycopg.connect(_pg_dsn(url), autocommit=True) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        ]
        connection.execute("SET session_replication_role = replica")
        connection.execute(
            "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
        )


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "voucher.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_database_url")
    _truncate_all(url)
    return url


@pytest.fixture
def settings(database_url: str, keys_dir: Path) -> Settings:
    return Settings(
        database_url=database_url,
        keys_dir=keys_dir,
        public_base_url="https://pass.example.fr",
        run_sequencer=False,
    )


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    db = Database(settings.database_url)
    yield db
    db.dispose()


@pytest.fixture
def app(settings: Settings, database: Database) -> Flask:
    flask_app = create_app(settings, database, start_sequencer=False)
    flask_app.testing = True
    return flask_app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def ctx(app: Flask) -> ServiceContext:
    context: ServiceContext = app.extensions["voucher_service"].context
    return context


@pytest.fixture
def clock() -> Iterator[Clock]:
    """A clock the test moves by hand."""
    travel = Clock(now())
    set_clock(travel)
    yield travel
    set_clock(None)


class Clock:
    def __init__(self, start: Any) -> None:
        self.current = start.replace(microsecond=0)

    def __call__(self) -> Any:
        return self.current

    def advance(self, **delta: float) -> None:
        from datetime import timedelta

        self.current += timedelta(**delta)


@dataclass
class World:
    """A programme, a distributor, two venues (one affiliated) and a key per role."""

    client: FlaskClient
    program_id: str
    organisation_id: str
    partner_id: str
    other_partner_id: str
    keys: dict[str, str]

    def headers(self, role: str, idempotency_key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.keys[role]}"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def issue(self, beneficiary: str = "case-1", size: int | None = None, **extra: Any) -> Any:
        body = {"program_id": self.program_id, "beneficiary_ref": beneficiary, **extra}
        if size is not None:
            body["size"] = size
        return self.client.post(
            "/v1/booklets", json=body, headers=self.headers("issuer", uuid.uuid4().hex)
        )

    def reverse(self, redemption_id: str, reason: str = "mistake", role: str = "partner") -> Any:
        return self.client.post(
            f"/v1/redemptions/{redemption_id}/reversal",
            json={"reason": reason},
            headers=self.headers(role),
        )

    def redeem(self, role: str = "partner", key: str | None = None, **body: Any) -> Any:
        return self.client.post(
            "/v1/redemptions", json=body, headers=self.headers(role, key or uuid.uuid4().hex)
        )


PROGRAM = {
    "code": "HV87",
    "name": "Pass Numérique Haute-Vienne",
    "funder": "Département de la Haute-Vienne",
    "budget_cents": 100_000,
    "face_value_cents": 1000,
    "currency": "EUR",
    "booklet_size": 10,
    "valid_from": "2026-01-01T00:00:00Z",
    "valid_until": "2030-01-01T00:00:00Z",
    "voucher_validity_days": 365,
    "max_vouchers_per_beneficiary": 20,
    "territory": ["87"],
}

PARTNER = {
    "siret": "73282932000074",
    "name": "Médiathèque francophone",
    "address": "2 place Aimé Césaire, Limoges",
    "postcode": "87000",
    "latitude": 45.8336,
    "longitude": 1.2532,
    "services": ["atelier-ordinateur"],
}


def make_world(app: Flask, client: FlaskClient, **program: Any) -> World:
    from voucher_service.auth.api import create_api_key

    database = app.extensions["voucher_service"].database
    admin_key = create_api_key(database, "admin", now(), label="test admin")["key"]
    admin = {"Authorization": f"Bearer {admin_key}"}
    created = client.post("/v1/programs", json={**PROGRAM, **program}, headers=admin)
    assert created.status_code == 201, created.json
    program_id = created.json["id"]
    organisation = client.post(
        "/v1/organisations",
        json={"name": "CCAS de Limoges", "kind": "ccas", "programs": [program_id]},
        headers=admin,
    ).json
    partner = client.post(
        "/v1/partners", json={**PARTNER, "programs": [program_id]}, headers=admin
    ).json
    other = client.post(
        "/v1/partners",
        json={
            **PARTNER,
            "siret": "44306184100047",
            "name": "Clic Saint-Junien",
            "latitude": 45.8876,
            "longitude": 0.9016,
            "services": ["atelier-smartphone"],
        },
        headers=admin,
    ).json
    keys = {"admin": admin_key}
    for role, binding in (
        ("issuer", {"organisation_id": organisation["id"]}),
        ("partner", {"partner_id": partner["id"]}),
        ("other_partner", {"partner_id": other["id"]}),
        ("auditor", {}),
    ):
        made = client.post(
            "/v1/api-keys",
            json={"role": role.removeprefix("other_"), "label": role, **binding},
            headers=admin,
        )
        assert made.status_code == 201, made.json
        keys[role] = made.json["key"]
    return World(client, program_id, organisation["id"], partner["id"], other["id"], keys)


@pytest.fixture
def world(app: Flask, client: FlaskClient) -> World:
    return make_world(app, client)


@pytest.fixture
def redis_client() -> Iterator[Any]:
    """The real Redis (CI runs one); skipped when absent outside CI."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError:
        if IN_CI:
            raise
        pytest.skip(f"Redis at {REDIS_URL} does not answer")
    yield client
    client.close()


def with_settings(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, **changes)
