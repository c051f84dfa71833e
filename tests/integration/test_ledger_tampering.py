"""An auditor's offline verification catches whoever changed the ledger in the database."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import text

from tests.conftest import World
from voucher_service.cli import main
from voucher_service.keys import Keys
from voucher_service.ledger.audit import audit_bundle
from voucher_service.ledger.bundle import ledger_verifier_key as forged_key
from voucher_service.ledger.sequencer import integrate_all


def integrate(app: Flask) -> None:
    services = app.extensions["voucher_service"]
    integrate_all(services.database, services.context)


def bundle(world: World, path: Path) -> Path:
    response = world.client.get("/v1/audit/bundle", headers=world.headers("auditor"))
    path.write_bytes(response.data)
    response.close()
    return path


def verify(path: Path, key: str, *extra: str) -> Any:
    return CliRunner().invoke(main, ["audit", "verify", str(path), "--key", key, *extra])


@pytest.fixture
def busy(app: Flask, world: World) -> str:
    """A log with issues, redemptions and a reversal; returns the pinned verifier key."""
    vouchers = world.issue().json["vouchers"]
    first = world.redeem(token=vouchers[0]["token"]).json
    world.redeem(token=vouchers[1]["token"])
    world.reverse(first["id"], "x")
    integrate(app)
    key: str = world.client.get("/v1/ledger/checkpoint/key").text.strip()
    return key


def tamper(app: Flask, *statements: str) -> None:
    """What an attacker with the database's superuser could do (the trigger set aside)."""
    database = app.extensions["voucher_service"].database
    with database.atomic() as session:
        if database.dialect == "postgresql":
            session.execute(text("SET LOCAL session_replication_role = replica"))
        for statement in statements:
            session.execute(text(statement))


def test_an_honest_ledger_verifies(world: World, busy: str, tmp_path: Path) -> None:
    result = verify(bundle(world, tmp_path / "b.zip"), busy)
    assert result.exit_code == 0, result.output


def test_an_entry_edited_in_the_database_is_caught(
    app: Flask, world: World, busy: str, tmp_path: Path
) -> None:
    tamper(app, "UPDATE ledger_transfers SET entry = replace(entry, '1000', '9000') "
                "WHERE kind = 'redeem'")  # fmt: skip
    result = verify(bundle(world, tmp_path / "b.zip"), busy)
    assert result.exit_code != 0
    assert "root" in result.output.lower()


def test_an_entry_dropped_from_the_log_is_caught(
    app: Flask, world: World, busy: str, tmp_path: Path
) -> None:
    tamper(
        app,
        'DELETE FROM ledger_leaves WHERE "index" = 3',
        'UPDATE ledger_leaves SET "index" = "index" - 1 WHERE "index" > 3',
    )
    result = verify(bundle(world, tmp_path / "b.zip"), busy)
    assert result.exit_code != 0


def test_entries_reordered_in_the_log_are_caught(
    app: Flask, world: World, busy: str, tmp_path: Path
) -> None:
    tamper(
        app,
        'UPDATE ledger_leaves SET "index" = 1000 WHERE "index" = 2',
        'UPDATE ledger_leaves SET "index" = 2 WHERE "index" = 3',
        'UPDATE ledger_leaves SET "index" = 3 WHERE "index" = 1000',
    )
    result = verify(bundle(world, tmp_path / "b.zip"), busy)
    assert result.exit_code != 0


def test_a_checkpoint_forged_with_another_key_is_caught(
    app: Flask, world: World, busy: str, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    # The operator runs the service with a ledger key of its own, signs and serves with it.
    services = app.extensions["voucher_service"]
    real = services.context
    forged = replace(
        real, keys=Keys(real.keys.voucher, Ed25519PrivateKey.generate(), real.keys.secret)
    )
    world.issue("b")
    integrate_all(services.database, forged)
    path = tmp_path / "b.zip"
    with audit_bundle(services.database, forged) as archive:
        path.write_bytes(archive.read())
    assert verify(path, forged_key(forged)).exit_code == 0  # a bundle sound in itself
    result = verify(path, busy)
    assert result.exit_code != 0
    assert "key" in result.output


def test_a_checkpoint_inconsistent_with_an_earlier_one_is_caught(
    app: Flask, world: World, busy: str, tmp_path: Path
) -> None:
    earlier = tmp_path / "earlier.checkpoint"
    earlier.write_text(world.client.get("/v1/ledger/checkpoint").text)
    world.issue("b")
    integrate(app)
    honest = verify(bundle(world, tmp_path / "b.zip"), busy, "--previous", str(earlier))
    assert honest.exit_code == 0, honest.output
    tamper(app, "UPDATE ledger_transfers SET entry = replace(entry, 'allocate', 'allocatE')")
    tamper(app, "DELETE FROM ledger_checkpoints")
    # The operator rewrites history and signs it anew: the witness's checkpoint disagrees.
    from voucher_service.ledger.merkle import leaf_hash

    database = app.extensions["voucher_service"].database
    with database.read() as session:
        rows = session.execute(text("SELECT id, entry FROM ledger_transfers")).all()
    for transfer_id, entry in rows:
        digest = leaf_hash(entry.encode()).hex()
        column = "X'" + digest + "'" if database.dialect == "sqlite" else "'\\x" + digest + "'"
        tamper(
            app,
            f"UPDATE ledger_transfers SET leaf_hash = {column} WHERE id = '{transfer_id}'",
            f"UPDATE ledger_leaves SET leaf_hash = {column} WHERE transfer_id = '{transfer_id}'",
        )
    tamper(app, "DELETE FROM ledger_nodes")
    _rebuild_nodes(app)
    rewritten = verify(bundle(world, tmp_path / "c.zip"), busy, "--previous", str(earlier))
    assert rewritten.exit_code != 0
    assert "previous" in rewritten.output.lower()


def _rebuild_nodes(app: Flask) -> None:
    """Re-sign the rewritten log as a dishonest operator would."""
    from sqlalchemy import insert, select

    from voucher_service.ledger.merkle import CompactRange
    from voucher_service.ledger.models import LedgerLeaf, LedgerNode
    from voucher_service.ledger.sequencer import sign_checkpoint

    services = app.extensions["voucher_service"]
    with services.database.atomic() as session:
        if services.database.dialect == "postgresql":
            session.execute(text("SET LOCAL session_replication_role = replica"))
        tree = CompactRange()
        for (digest,) in session.execute(select(LedgerLeaf.leaf_hash).order_by(LedgerLeaf.index)):
            for level, index, node in tree.append(bytes(digest)):
                if level > 0:
                    session.execute(insert(LedgerNode).values(level=level, index=index, hash=node))
        sign_checkpoint(session, services.context, tree.size, tree.root())
