"""What every use case may need besides its session: settings, keys and the rate limiter."""

from __future__ import annotations

from dataclasses import dataclass

from voucher_service.config import Settings
from voucher_service.keys import Keys, load_keys
from voucher_service.vouchers.ratelimit import FailureLimiter, make_limiter


@dataclass(frozen=True)
class ServiceContext:
    settings: Settings
    keys: Keys
    limiter: FailureLimiter

    @classmethod
    def from_settings(cls, settings: Settings) -> ServiceContext:
        """Load the keys and set up the rate limiter as the settings say."""
        limiter = make_limiter(
            settings.redis_url,
            settings.code_failures_per_window,
            settings.code_failure_window_seconds,
        )
        return cls(settings, load_keys(settings), limiter)
