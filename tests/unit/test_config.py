"""Settings come from the environment; production refuses to start without its secrets."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from voucher_service.config import ConfigurationError, Settings
from voucher_service.keys import load_keys


def test_development_defaults_to_the_embedded_sqlite_file() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite:///var/voucher.db"
    assert settings.issuer == "vs"
    assert settings.reversal_window_hours == 24
    assert settings.origin == "127.0.0.1:8000/ledger"


def test_production_without_its_secret_refuses_to_start_and_names_it() -> None:
    env = {"VOUCHER_SERVICE_ENV": "production", "DATABASE_URL": "postgresql://x/y",
           "VOUCHER_SERVICE_KEYS_DIR": "/keys"}  # fmt: skip
    with pytest.raises(ConfigurationError, match="VOUCHER_SERVICE_SECRET"):
        Settings.from_env(env)


def test_production_without_keys_refuses_to_start(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "VOUCHER_SERVICE_ENV": "production",
            "DATABASE_URL": "postgresql://x/y",
            "VOUCHER_SERVICE_KEYS_DIR": str(tmp_path / "none"),
            "VOUCHER_SERVICE_SECRET": secrets.token_hex(32),
        }
    )
    with pytest.raises(ConfigurationError, match="VOUCHER_SERVICE_KEYS_DIR"):
        load_keys(settings)


def test_development_makes_its_keys_once(tmp_path: Path) -> None:
    settings = Settings(keys_dir=tmp_path / "keys")
    first, second = load_keys(settings), load_keys(settings)
    assert first.voucher.current_kid == second.voucher.current_kid
    assert first.secret == second.secret
    assert len(first.voucher.current_kid) == 8


def test_a_bad_reversal_window_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="REVERSAL_WINDOW"):
        Settings.from_env({"VOUCHER_SERVICE_REVERSAL_WINDOW_HOURS": "soon"})


PRODUCTION = {
    "VOUCHER_SERVICE_ENV": "production",
    "DATABASE_URL": "postgresql://x/y",
    "VOUCHER_SERVICE_KEYS_DIR": "/keys",
}


@pytest.mark.parametrize(
    "secret",
    ["a", "s" * 32, "a" * 64, "password" * 8, "0123456789abcdef" * 4, "correct horse battery"],
)
def test_a_weak_secret_is_refused_and_the_message_says_how_to_make_one(secret: str) -> None:
    with pytest.raises(ConfigurationError, match=r"secrets\.token_hex") as refused:
        Settings.from_env({**PRODUCTION, "VOUCHER_SERVICE_SECRET": secret})
    assert "VOUCHER_SERVICE_SECRET" in str(refused.value)


@pytest.mark.parametrize("make", [lambda: secrets.token_hex(32), lambda: secrets.token_urlsafe(32)])
def test_a_random_secret_of_32_bytes_is_accepted(make: Any) -> None:
    for _ in range(200):  # random draws: none may be refused
        assert Settings.from_env({**PRODUCTION, "VOUCHER_SERVICE_SECRET": make()}).secret
