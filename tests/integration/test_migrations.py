"""Migrations are the only way the schema is made: they match the models, both ways."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from voucher_service.db import Database
from voucher_service.migrate import alembic_config, upgrade
from voucher_service.models import Base


def test_the_migrated_schema_is_the_models_schema(database: Database) -> None:
    with database.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_migrations_go_down_to_nothing_and_up_again(database: Database) -> None:
    config = alembic_config(database.url)
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    with database.engine.connect() as connection:
        tables = set(database.engine.dialect.get_table_names(connection))
    assert tables <= {"alembic_version"}
    upgrade(database)
    with database.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
