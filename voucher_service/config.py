"""Settings read from the environment, once, into an immutable value."""

from __future__ import annotations

import math
import os
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


class ConfigurationError(RuntimeError):
    """The service cannot start as configured; the message names what is missing."""


DEFAULT_DATABASE_URL = "sqlite:///var/voucher.db"


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    environment: str = "development"
    keys_dir: Path = Path("var/keys")
    secret: bytes | None = None
    public_base_url: str = "http://127.0.0.1:8000"
    issuer: str = "vs"
    reversal_window_hours: float = 24.0
    log_origin: str | None = None
    merge_delay_seconds: float = 5.0
    run_sequencer: bool = True
    redis_url: str | None = None
    code_failures_per_window: int = 20
    code_failure_window_seconds: int = 60
    code_failures_per_address: int = 60  # however many partner keys are used from there
    trusted_proxies: int = 0  # reverse proxies in front, whose X-Forwarded-For is believed
    metrics_token: str | None = None  # bearer token /metrics asks for when set

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def origin(self) -> str:
        """The Merkle log's origin line: the checkpoint's first line."""
        if self.log_origin:
            return self.log_origin
        host = urlsplit(self.public_base_url).netloc or "localhost"
        return f"{host}/ledger"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        environment = env.get("VOUCHER_SERVICE_ENV", "development")
        if environment not in ("development", "production"):
            raise ConfigurationError(
                f"VOUCHER_SERVICE_ENV must be development or production, not {environment!r}"
            )
        secret = env.get("VOUCHER_SERVICE_SECRET")
        if environment == "production":
            _require(env, "VOUCHER_SERVICE_SECRET", "VOUCHER_SERVICE_KEYS_DIR", "DATABASE_URL")
        if secret:
            check_secret_strength(secret)
        return cls(
            database_url=env.get("DATABASE_URL", DEFAULT_DATABASE_URL),
            environment=environment,
            keys_dir=Path(env.get("VOUCHER_SERVICE_KEYS_DIR", "var/keys")),
            secret=secret.encode() if secret else None,
            public_base_url=check_public_base_url(
                env.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
            ),
            issuer=env.get("VOUCHER_SERVICE_ISSUER", "vs"),
            reversal_window_hours=_number(env, "VOUCHER_SERVICE_REVERSAL_WINDOW_HOURS", 24.0),
            log_origin=env.get("VOUCHER_SERVICE_LOG_ORIGIN"),
            merge_delay_seconds=_number(env, "VOUCHER_SERVICE_MERGE_DELAY_SECONDS", 5.0),
            # The periodic jobs run in each web process in development (one command does
            # everything); in production `voucher-service worker` runs them instead.
            run_sequencer=_switch(env, "VOUCHER_SERVICE_SEQUENCER", environment != "production"),
            redis_url=env.get("REDIS_URL"),
            code_failures_per_address=_whole(env, "VOUCHER_SERVICE_CODE_FAILURES_PER_ADDRESS", 60),
            trusted_proxies=_whole(env, "VOUCHER_SERVICE_TRUSTED_PROXIES", 0, least=0),
            metrics_token=env.get("VOUCHER_SERVICE_METRICS_TOKEN", "").strip() or None,
        )


SECRET_BYTES = 32
ZLIB_OVERHEAD = 11  # header, checksum and block framing of a short zlib stream
MAKE_A_SECRET = "python3 -c 'import secrets; print(secrets.token_hex(32))'"  # noqa: S105


def check_secret_strength(secret: str) -> None:
    """At least 32 random bytes: 64 hex digits, 43 base64 characters or more, never a word.

    What a string holds is estimated twice from its own characters: their Shannon entropy
    times its length, and the size zlib squeezes it to. A repetitive secret fails one or
    the other (a random one of 32 bytes shows at least 186 and 304 bits).
    """
    counts = Counter(secret)
    shannon = -sum(n * math.log2(n / len(secret)) for n in counts.values())
    squeezed = (len(zlib.compress(secret.encode(), 9)) - ZLIB_OVERHEAD) * 8
    if len(secret) < 43 or shannon < 160 or squeezed < 200:
        raise ConfigurationError(
            f"VOUCHER_SERVICE_SECRET is too weak: it needs at least {SECRET_BYTES} random "
            f"bytes (64 hex digits); make one with: {MAKE_A_SECRET}"
        )


QR_FRIENDLY_BASE_URL = 40  # characters: keeps a voucher's QR code at version 16 or less


def check_public_base_url(raw: str) -> str:
    """The address people and scanners reach the service at, signed into every QR code and
    into the log's origin for good: http(s), a host, no query or fragment. One trailing
    slash is dropped, so that paths join cleanly."""
    url = raw.strip().removesuffix("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"PUBLIC_BASE_URL must be an http:// or https:// address with a host, such as "
            f"https://pass.example.fr, not {raw!r}"
        )
    if parts.query or parts.fragment or "#" in url or " " in url or url.endswith("/"):
        raise ConfigurationError(
            f"PUBLIC_BASE_URL must be a plain address (no query, fragment, space or trailing "
            f"slash), not {raw!r}"
        )
    return url


def warnings_for(settings: Settings) -> list[str]:
    """What is allowed but unwise, said once at start-up."""
    found = []
    if len(settings.public_base_url) > QR_FRIENDLY_BASE_URL:
        found.append(
            f"PUBLIC_BASE_URL has {len(settings.public_base_url)} characters: past "
            f"{QR_FRIENDLY_BASE_URL}, vouchers' QR codes grow denser and scan less reliably "
            "from paper"
        )
    return found


def _switch(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw not in ("on", "off"):
        raise ConfigurationError(f"{name} must be on or off, not {raw!r}")
    return raw == "on"


def _require(env: dict[str, str], *names: str) -> None:
    missing = [name for name in names if not env.get(name)]
    if missing:
        raise ConfigurationError(
            "production start refused: set " + ", ".join(missing) + " in the environment"
        )


def _number(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, not {raw!r}") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive, not {raw!r}")
    return value


def _whole(env: dict[str, str], name: str, default: int, least: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, not {raw!r}") from None
    if value < least:
        raise ConfigurationError(f"{name} must be at least {least}, not {raw!r}")
    return value
