"""Failed code lookups are counted per partner and per client address, in this process or in
Redis for all workers; a Redis that cannot be reached is a 503, never a hang."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from tests.conftest import REDIS_URL
from voucher_service.config import ConfigurationError, Settings
from voucher_service.errors import ServiceUnavailable
from voucher_service.vouchers.ratelimit import (
    REDIS_TIMEOUT_SECONDS,
    MemoryFailureLimiter,
    RedisFailureLimiter,
    address_key,
    make_limiter,
)

CLOSED_PORT = "redis://127.0.0.1:1/0"


@pytest.fixture
def prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards, nobody else's."""
    mine = f"voucher-service-test:{uuid.uuid4().hex}"
    yield mine
    keys = list(redis_client.scan_iter(f"{mine}:*"))
    if keys:
        redis_client.delete(*keys)


def test_the_memory_limiter_allows_the_limit_then_refuses_per_partner() -> None:
    limiter = MemoryFailureLimiter(limit=3, window_seconds=60)
    assert [limiter.record_failure("a") for _ in range(3)] == [True, True, True]
    assert limiter.over_limit("a") is False
    assert limiter.record_failure("a") is False
    assert limiter.over_limit("a") is True
    assert limiter.record_failure("b") is True
    assert limiter.over_limit("b") is False


def test_the_memory_limiter_counts_an_address_across_partner_keys() -> None:
    limiter = MemoryFailureLimiter(limit=3, window_seconds=60, address_limit=5)
    here, elsewhere = "203.0.113.7", "198.51.100.1"
    assert [limiter.record_failure("a", here) for _ in range(3)] == [True] * 3
    assert [limiter.record_failure("b", here) for _ in range(2)] == [True] * 2
    assert limiter.over_limit("c", here) is False  # 5 failures: the allowance, not more
    assert limiter.record_failure("c", here) is False
    assert limiter.over_limit("c", here) is True  # a new key from this address: refused too
    assert limiter.over_limit("c", elsewhere) is False  # the same key elsewhere: its own count
    assert limiter.over_limit("a", elsewhere) is False
    assert limiter.record_failure("a", elsewhere) is False  # the partner's own limit: 4 > 3
    assert limiter.over_limit("a", elsewhere) is True


def test_an_ipv6_client_is_counted_by_its_slash_64() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::2")
    assert address_key("2001:db8:1:2::1") != address_key("2001:db8:1:3::1")
    assert address_key("::ffff:203.0.113.7") == address_key("203.0.113.7") == "203.0.113.7"
    assert address_key(None) is None
    assert address_key("") is None
    limiter = MemoryFailureLimiter(limit=100, window_seconds=60, address_limit=2)
    for n in range(2):
        assert limiter.record_failure(f"p{n}", f"2001:db8:1:2::{n + 1}") is True
    assert limiter.over_limit("p9", "2001:db8:1:2:ffff::9") is False
    assert limiter.record_failure("p9", "2001:db8:1:2:ffff::9") is False
    assert limiter.over_limit("p10", "2001:db8:1:2::abcd") is True


def test_the_redis_limiter_is_shared_by_every_worker(
    redis_client: redis.Redis, prefix: str
) -> None:
    partner = f"partner-{uuid.uuid4()}"
    first, second = (RedisFailureLimiter(redis_client, 3, 60, prefix=prefix) for _ in range(2))
    assert [first.record_failure(partner), second.record_failure(partner)] == [True, True]
    assert first.record_failure(partner) is True
    assert first.over_limit(partner) is False
    assert second.record_failure(partner) is False
    assert first.over_limit(partner) is True  # every worker refuses from now on
    assert first.record_failure(f"other-{partner}") is True
    assert first.over_limit(f"other-{partner}") is False
    assert list(redis_client.scan_iter(f"{prefix}:*"))  # the keys are under our prefix
    assert all(0 < redis_client.ttl(key) <= 120 for key in redis_client.scan_iter(f"{prefix}:*"))


def test_the_redis_limiter_counts_an_address_across_partner_keys_and_workers(
    redis_client: redis.Redis, prefix: str
) -> None:
    first, second = (
        RedisFailureLimiter(redis_client, 3, 60, address_limit=5, prefix=prefix) for _ in range(2)
    )
    here, elsewhere = "203.0.113.7", "2001:db8:1:2::1"
    assert [first.record_failure("a", here) for _ in range(3)] == [True] * 3
    assert [second.record_failure("b", here) for _ in range(2)] == [True] * 2
    assert first.over_limit("c", here) is False
    assert second.record_failure("c", here) is False
    assert first.over_limit("c", here) is True
    assert first.over_limit("c", elsewhere) is False
    assert second.record_failure("a", elsewhere) is False  # a's own count: 4 > 3
    assert first.over_limit("a", "2001:db8:1:2:ffff::1") is True
    assert first.over_limit("b", "2001:db8:1:2:ffff::1") is False  # b: 2, that /64: 1


def test_an_unreachable_redis_is_service_unavailable_at_once() -> None:
    limiter = make_limiter(CLOSED_PORT, 3, 60, address_limit=9)
    for call in (limiter.record_failure, limiter.over_limit):
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable) as raised:
            call("a", "203.0.113.7")
        assert time.monotonic() - started < 2 * REDIS_TIMEOUT_SECONDS + 0.5
        assert raised.value.slug == "service-unavailable"


def test_the_redis_client_has_short_timeouts_and_few_retries() -> None:
    limiter = make_limiter(REDIS_URL, 3, 60)
    assert isinstance(limiter, RedisFailureLimiter)
    options = limiter.client.connection_pool.connection_kwargs
    assert options["socket_connect_timeout"] == REDIS_TIMEOUT_SECONDS <= 1
    assert options["socket_timeout"] == REDIS_TIMEOUT_SECONDS
    assert options["retry"].get_retries() <= 1
    assert isinstance(make_limiter(None, 3, 60), MemoryFailureLimiter)


def test_the_address_allowance_and_the_proxies_come_from_the_environment() -> None:
    defaults = Settings.from_env({})
    assert defaults.code_failures_per_address == 3 * defaults.code_failures_per_window
    assert defaults.trusted_proxies == 0
    settings = Settings.from_env(
        {"VOUCHER_SERVICE_CODE_FAILURES_PER_ADDRESS": "100", "VOUCHER_SERVICE_TRUSTED_PROXIES": "2"}
    )
    assert (settings.code_failures_per_address, settings.trusted_proxies) == (100, 2)
    for name, raw in (
        ("VOUCHER_SERVICE_CODE_FAILURES_PER_ADDRESS", "0"),
        ("VOUCHER_SERVICE_CODE_FAILURES_PER_ADDRESS", "many"),
        ("VOUCHER_SERVICE_TRUSTED_PROXIES", "-1"),
        ("VOUCHER_SERVICE_TRUSTED_PROXIES", "1.5"),
    ):
        with pytest.raises(ConfigurationError, match=name):
            Settings.from_env({name: raw})
