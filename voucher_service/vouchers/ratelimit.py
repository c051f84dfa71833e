"""Counts failed code lookups per partner and per client address in fixed windows, in Redis
(shared by every worker and host) or in this process.

Both counts are kept: a lookup is refused while either its partner or its address is over
its allowance, so that many partner keys used from one address cannot multiply it. An IPv6
client is counted by its /64, the block one subscriber usually holds.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from typing import Any, Protocol

from voucher_service.clock import now
from voucher_service.errors import ServiceUnavailable

log = logging.getLogger(__name__)

REDIS_TIMEOUT_SECONDS = 0.5  # to connect and to read: a dead Redis must not hold a worker
REDIS_PAUSE_SECONDS = 1.0  # after a failure, code lookups are refused without trying again
KEY_PREFIX = "voucher-service:code-failures"


class FailureLimiter(Protocol):
    def record_failure(self, partner_id: str, address: str | None = None) -> bool:
        """Count one failure of the partner and of the address; True while both stay within
        their allowances."""
        ...

    def over_limit(self, partner_id: str, address: str | None = None) -> bool:
        """Whether the partner or the address has spent its allowance in this window: then
        every lookup by code is refused until the window ends, so that the limit answers
        nothing."""
        ...


def seconds_left(window_seconds: int) -> int:
    """Until the current window ends (what Retry-After says)."""
    return max(1, window_seconds - int(now().timestamp()) % window_seconds)


def address_key(address: str | None) -> str | None:
    """What an address is counted as: IPv4 as it is (an IPv4-mapped IPv6 address too), IPv6
    by its /64; None when there is no address."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]  # not an IP address (a Unix socket's peer): counted as written
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


def _counted(
    partner_id: str, address: str | None, limit: int, address_limit: int | None
) -> list[tuple[str, int]]:
    """The counters a failure moves, each with its allowance."""
    counters = [(f"partner:{partner_id}", limit)]
    key = address_key(address)
    if key is not None and address_limit is not None:
        counters.append((f"address:{key}", address_limit))
    return counters


class MemoryFailureLimiter:
    """One process's count: right for the embedded development server and tests."""

    def __init__(self, limit: int, window_seconds: int, address_limit: int | None = None) -> None:
        self.limit, self.window, self.address_limit = limit, window_seconds, address_limit
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def record_failure(self, partner_id: str, address: str | None = None) -> bool:
        window = int(now().timestamp() // self.window)
        within = True
        with self._lock:
            if len(self._counts) > 10_000:
                self._counts = {k: v for k, v in self._counts.items() if k[1] == window}
            for counter, allowance in _counted(partner_id, address, self.limit, self.address_limit):
                count = self._counts.get((counter, window), 0) + 1
                self._counts[(counter, window)] = count
                within = within and count <= allowance
        return within

    def over_limit(self, partner_id: str, address: str | None = None) -> bool:
        window = int(now().timestamp() // self.window)
        return any(
            self._counts.get((counter, window), 0) > allowance
            for counter, allowance in _counted(partner_id, address, self.limit, self.address_limit)
        )


class RedisFailureLimiter:
    """Shared by every worker and host: INCR per-window keys that expire with their window.

    A Redis that cannot be reached makes every code lookup a ServiceUnavailable (503): the
    limit is not waived. For a moment after a failure Redis is not tried at all.
    """

    def __init__(
        self,
        client: Any,
        limit: int,
        window_seconds: int,
        address_limit: int | None = None,
        prefix: str = KEY_PREFIX,
    ) -> None:
        self.client, self.limit, self.window = client, limit, window_seconds
        self.address_limit, self.prefix = address_limit, prefix
        self._paused_until = 0.0

    def record_failure(self, partner_id: str, address: str | None = None) -> bool:
        window = int(now().timestamp() // self.window)
        counters = _counted(partner_id, address, self.limit, self.address_limit)
        pipeline = self.client.pipeline()
        for counter, _ in counters:
            key = f"{self.prefix}:{counter}:{window}"
            pipeline.incr(key)
            pipeline.expire(key, self.window * 2)
        replies = self._call(pipeline.execute)
        counts = replies[::2]
        return all(int(n) <= allowance for n, (_, allowance) in zip(counts, counters, strict=True))

    def over_limit(self, partner_id: str, address: str | None = None) -> bool:
        window = int(now().timestamp() // self.window)
        counters = _counted(partner_id, address, self.limit, self.address_limit)
        keys = [f"{self.prefix}:{counter}:{window}" for counter, _ in counters]
        counts = self._call(lambda: self.client.mget(keys))
        return any(
            n is not None and int(n) > allowance
            for n, (_, allowance) in zip(counts, counters, strict=True)
        )

    def _call(self, command: Any) -> Any:
        import redis

        if time.monotonic() < self._paused_until:
            raise ServiceUnavailable("the store of the code lookups' limits cannot be reached")
        try:
            return command()
        except redis.RedisError as error:
            self._paused_until = time.monotonic() + REDIS_PAUSE_SECONDS
            log.warning("Redis (REDIS_URL) cannot be reached: code lookups refused: %s", error)
            raise ServiceUnavailable(
                "the store of the code lookups' limits cannot be reached"
            ) from error


def make_limiter(
    redis_url: str | None, limit: int, window_seconds: int, address_limit: int | None = None
) -> FailureLimiter:
    if redis_url:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        client = redis.Redis.from_url(
            redis_url,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 1),  # once, at once: a connection a restart closed
        )
        return RedisFailureLimiter(client, limit, window_seconds, address_limit)
    return MemoryFailureLimiter(limit, window_seconds, address_limit)
