"""Failed code lookups are counted per partner, in this process or in Redis for all workers."""

from __future__ import annotations

import os
import uuid

import pytest
import redis

from voucher_service.vouchers.ratelimit import MemoryFailureLimiter, RedisFailureLimiter

REDIS_URL = os.environ.get("VOUCHER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def test_the_memory_limiter_allows_the_limit_then_refuses_per_partner() -> None:
    limiter = MemoryFailureLimiter(limit=3, window_seconds=60)
    assert [limiter.record_failure("a") for _ in range(3)] == [True, True, True]
    assert limiter.over_limit("a") is False
    assert limiter.record_failure("a") is False
    assert limiter.over_limit("a") is True
    assert limiter.record_failure("b") is True
    assert limiter.over_limit("b") is False


def test_the_redis_limiter_is_shared_by_every_worker() -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"Redis at {REDIS_URL} does not answer")
    partner = f"partner-{uuid.uuid4()}"
    first, second = (RedisFailureLimiter(client, 3, 60) for _ in range(2))
    assert [first.record_failure(partner), second.record_failure(partner)] == [True, True]
    assert first.record_failure(partner) is True
    assert first.over_limit(partner) is False
    assert second.record_failure(partner) is False
    assert first.over_limit(partner) is True  # every worker refuses from now on
    assert first.record_failure(f"other-{partner}") is True
    assert first.over_limit(f"other-{partner}") is False
    client.close()
