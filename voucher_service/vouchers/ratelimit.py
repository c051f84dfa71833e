"""Counts failed code lookups per partner in fixed windows, in Redis or in this process."""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol


class FailureLimiter(Protocol):
    def record_failure(self, partner_id: str) -> bool:
        """Count one failure; True while the partner stays within its allowance."""
        ...

    def over_limit(self, partner_id: str) -> bool:
        """Whether the partner has spent its allowance in this window: then every lookup by
        code is refused until the window ends, so that the limit answers nothing."""
        ...


def seconds_left(window_seconds: int) -> int:
    """Until the current window ends (what Retry-After says)."""
    return max(1, window_seconds - int(time.time()) % window_seconds)


class MemoryFailureLimiter:
    """One process's count: right for the embedded development server and tests."""

    def __init__(self, limit: int, window_seconds: int) -> None:
        self.limit, self.window = limit, window_seconds
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def record_failure(self, partner_id: str) -> bool:
        window = int(time.time() // self.window)
        with self._lock:
            if len(self._counts) > 10_000:
                self._counts = {k: v for k, v in self._counts.items() if k[1] == window}
            count = self._counts.get((partner_id, window), 0) + 1
            self._counts[(partner_id, window)] = count
        return count <= self.limit

    def over_limit(self, partner_id: str) -> bool:
        window = int(time.time() // self.window)
        return self._counts.get((partner_id, window), 0) > self.limit


class RedisFailureLimiter:
    """Shared by every worker and host: INCR a per-window key that expires with its window."""

    def __init__(self, client: Any, limit: int, window_seconds: int) -> None:
        self.client, self.limit, self.window = client, limit, window_seconds

    def record_failure(self, partner_id: str) -> bool:
        window = int(time.time() // self.window)
        key = f"voucher-service:code-failures:{partner_id}:{window}"
        pipeline = self.client.pipeline()
        pipeline.incr(key)
        pipeline.expire(key, self.window * 2)
        count, _ = pipeline.execute()
        return int(count) <= self.limit

    def over_limit(self, partner_id: str) -> bool:
        window = int(time.time() // self.window)
        count = self.client.get(f"voucher-service:code-failures:{partner_id}:{window}")
        return count is not None and int(count) > self.limit


def make_limiter(redis_url: str | None, limit: int, window_seconds: int) -> FailureLimiter:
    if redis_url:
        import redis

        return RedisFailureLimiter(redis.Redis.from_url(redis_url), limit, window_seconds)
    return MemoryFailureLimiter(limit, window_seconds)
