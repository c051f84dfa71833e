"""Settings come from the environment; production refuses to start without its secrets."""

from __future__ import annotations

from pathlib import Path

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
            "VOUCHER_SERVICE_SECRET": "s" * 32,
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
