"""The JWKS publishes the current key, and an old key only while its vouchers can be valid."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.conftest import World, with_settings
from voucher_service.clock import now
from voucher_service.config import Settings
from voucher_service.context import ServiceContext
from voucher_service.db import Database
from voucher_service.keys import rotate_voucher_key
from voucher_service.vouchers.jwks import published_keys
from voucher_service.web.app import create_app


def kids(jwks: dict[str, list[dict[str, str]]]) -> list[str]:
    return [key["kid"] for key in jwks["keys"]]


def test_an_old_key_stays_published_until_its_last_voucher_expires(
    world: World, settings: Settings, database: Database, tmp_path: Path
) -> None:
    # A service of its own keys, on the same database: rotating them leaves the others alone.
    own = with_settings(settings, keys_dir=tmp_path / "keys")
    before = create_app(own, database, start_sequencer=False).test_client()
    first = kids(before.get("/.well-known/jwks.json").json)
    assert len(first) == 1
    issued = before.post(
        "/v1/booklets",
        json={"program_id": world.program_id, "beneficiary_ref": "case-1"},
        headers=world.headers("issuer", "first-key"),
    )
    assert issued.status_code == 201, issued.json
    rotate_voucher_key(own)
    rotated = ServiceContext.from_settings(own)
    assert rotated.keys.voucher.current_kid not in first
    current = rotated.keys.voucher.current_kid
    assert sorted(kids(published_keys(database, rotated, now()))) == sorted([*first, current])
    after_expiry = now() + timedelta(days=366)
    assert kids(published_keys(database, rotated, after_expiry)) == [current]


def test_a_rotated_key_that_signed_nothing_is_withdrawn_at_once(
    settings: Settings, database: Database, tmp_path: Path
) -> None:
    own = with_settings(settings, keys_dir=tmp_path / "keys")
    first = ServiceContext.from_settings(own).keys.voucher.current_kid
    rotate_voucher_key(own)
    rotated = ServiceContext.from_settings(own)
    assert kids(published_keys(database, rotated, now())) == [rotated.keys.voucher.current_kid]
    assert first != rotated.keys.voucher.current_kid


def test_the_jwks_is_public_and_holds_only_public_parts(world: World) -> None:
    keys = world.client.get("/.well-known/jwks.json").json["keys"]
    assert keys
    for key in keys:
        assert set(key) == {"kty", "crv", "x", "y", "kid", "alg", "use"}
        assert "d" not in key
