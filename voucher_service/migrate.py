"""Runs Alembic from inside the package: `voucher-service db upgrade` and the tests use it."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from voucher_service.db import Database

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(database: Database, revision: str = "head") -> None:
    """Migrate the database to `revision` (head by default)."""
    config = alembic_config(database.url)
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
