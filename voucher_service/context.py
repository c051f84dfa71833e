"""What every use case may need besides its database: settings, keys, the rate limiter and
the programme codes it has met."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from voucher_service.config import Settings
from voucher_service.idempotency.api import AnswerSeal
from voucher_service.keys import Keys, load_keys
from voucher_service.vouchers.ratelimit import FailureLimiter, make_limiter


class ProgramIds:
    """Programme code → id; both are fixed at a programme's creation, so a process keeps them."""

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, code: str, look_up: Callable[[str], str | None]) -> str | None:
        found = self._ids.get(code)
        if found is None:
            found = look_up(code)
            if found is not None:
                with self._lock:
                    self._ids[code] = found
        return found


@dataclass(frozen=True)
class ServiceContext:
    settings: Settings
    keys: Keys
    limiter: FailureLimiter
    program_ids: ProgramIds = field(default_factory=ProgramIds, compare=False)

    @cached_property
    def answers(self) -> AnswerSeal:
        """How the answers of keyed requests are kept at rest: sealed under the secret."""
        return AnswerSeal(self.keys.secret)

    @classmethod
    def from_settings(cls, settings: Settings) -> ServiceContext:
        """Load the keys and set up the rate limiter as the settings say."""
        limiter = make_limiter(
            settings.redis_url,
            settings.code_failures_per_window,
            settings.code_failure_window_seconds,
            settings.code_failures_per_address,
        )
        return cls(settings, load_keys(settings), limiter)
