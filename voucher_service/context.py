"""What every use case may need besides its session: settings, keys and the rate limiter."""

from __future__ import annotations

from dataclasses import dataclass

from voucher_service.config import Settings
from voucher_service.keys import Keys
from voucher_service.vouchers.ratelimit import FailureLimiter


@dataclass(frozen=True)
class ServiceContext:
    settings: Settings
    keys: Keys
    limiter: FailureLimiter
