"""The JWKS publishes the current key, and an old key only while its vouchers can be valid."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask

from tests.conftest import World
from voucher_service.clock import now
from voucher_service.config import Settings
from voucher_service.keys import load_keys, rotate_voucher_key
from voucher_service.vouchers.jwks import published_jwks


def test_an_old_key_stays_published_until_its_last_voucher_expires(
    app: Flask, world: World, settings: Settings, tmp_path: Path
) -> None:
    own = Settings(database_url=settings.database_url, keys_dir=tmp_path / "keys")
    first = load_keys(own).voucher.current_kid
    services: Any = app.extensions["voucher_service"]
    # Vouchers signed by the first key: issue them through an app that holds it.
    object.__setattr__(services.context, "keys", load_keys(own))
    world.issue()
    rotate_voucher_key(own)
    keyring = load_keys(own).voucher
    assert keyring.current_kid != first
    with services.database.read() as session:
        assert {k["kid"] for k in published_jwks(session, keyring, now())["keys"]} == {
            first, keyring.current_kid
        }  # fmt: skip
        later = now() + timedelta(days=366)
        assert [k["kid"] for k in published_jwks(session, keyring, later)["keys"]] == [
            keyring.current_kid
        ]


def test_the_jwks_is_public_and_holds_only_public_parts(world: World) -> None:
    keys = world.client.get("/.well-known/jwks.json").json["keys"]
    assert keys
    for key in keys:
        assert set(key) == {"kty", "crv", "x", "y", "kid", "alg", "use"}
        assert "d" not in key
