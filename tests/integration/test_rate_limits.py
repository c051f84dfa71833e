"""Failed code lookups are limited per partner and per client address, through HTTP: many
partner keys from one address share its allowance, the address is the real client's behind
trusted proxies only, and a Redis that cannot be reached refuses code lookups with 503 while
tokens are still redeemed."""

from __future__ import annotations

import logging
import secrets
import uuid
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from tests.conftest import REDIS_URL, World, make_world, with_settings
from voucher_service.config import Settings
from voucher_service.db import Database
from voucher_service.vouchers.codes import check_character
from voucher_service.web.app import create_app

CLOSED_PORT = "redis://127.0.0.1:1/0"
VERIFY, REDEEM = "/v1/vouchers/verify", "/v1/redemptions"


def world_with(settings: Settings, database: Database, **changes: Any) -> World:
    app = create_app(with_settings(settings, **changes), database, start_sequencer=False)
    app.testing = True
    return make_world(app, app.test_client())


def unknown_code(n: int) -> str:
    body = f"{n:012d}".replace("1", "2")
    return body + check_character(body)


def lookup(
    world: World,
    path: str,
    role: str = "partner",
    address: str | None = None,
    forwarded: str | None = None,
    key: str | None = None,
    client: FlaskClient | None = None,
    **body: Any,
) -> Any:
    headers = world.headers(role, key or uuid.uuid4().hex)
    if forwarded is not None:
        headers["X-Forwarded-For"] = forwarded
    environ = {"REMOTE_ADDR": address} if address else {}
    return (client or world.client).post(path, json=body, headers=headers, environ_base=environ)


def random_address() -> str:
    return "10." + ".".join(str(b) for b in secrets.token_bytes(3))


def assert_rate_limited(response: Any) -> None:
    assert response.status_code == 429, response.json
    assert response.json["type"].endswith("/problems/rate-limited")
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def assert_still_issued(world: World, voucher: dict[str, Any]) -> None:
    seen = lookup(world, VERIFY, token=voucher["token"])
    assert seen.status_code == 200, seen.json
    assert seen.json["status"] == "issued" and seen.json["redeemable"] is True


def test_many_partner_keys_from_one_address_share_its_allowance(
    settings: Settings, database: Database, clock: Any
) -> None:
    world = world_with(settings, database, code_failures_per_window=3, code_failures_per_address=5)
    voucher = world.issue().json["vouchers"][0]
    here, elsewhere = "203.0.113.7", "198.51.100.1"
    statuses = [
        lookup(world, VERIFY, "other_partner", here, code=unknown_code(n)).status_code
        for n in range(4)
    ]
    assert statuses == [404, 404, 404, 429]  # the other partner's own limit: 3
    assert lookup(world, REDEEM, "partner", here, code=unknown_code(10)).status_code == 404
    assert_rate_limited(lookup(world, REDEEM, "partner", here, code=unknown_code(11)))
    # The address is over its 5 failures: its right codes are refused too, with either key.
    for path in (VERIFY, REDEEM):
        assert_rate_limited(lookup(world, path, "partner", here, code=voucher["code"]))
    # The same partner from another address is within its own allowance (2 of 3).
    seen = lookup(world, VERIFY, "partner", elsewhere, code=voucher["code"])
    assert seen.status_code == 200, seen.json
    assert seen.json["redeemable"] is True
    assert_still_issued(world, voucher)
    assert lookup(world, REDEEM, "partner", here, token=voucher["token"]).status_code == 201


def test_behind_a_trusted_proxy_the_forwarded_client_is_counted(
    settings: Settings, database: Database, clock: Any
) -> None:
    world = world_with(
        settings,
        database,
        code_failures_per_window=100,
        code_failures_per_address=2,
        trusted_proxies=1,
    )
    voucher = world.issue().json["vouchers"][0]
    proxy = "10.0.0.1"

    def verify(client_address: str, code: str) -> Any:
        return lookup(world, VERIFY, address=proxy, forwarded=client_address, code=code)

    assert [verify("203.0.113.1", unknown_code(n)).status_code for n in range(3)] == [
        404,
        404,
        429,
    ]
    # What the client wrote before the proxy's own entry is not believed.
    assert_rate_limited(verify("198.51.100.9, 203.0.113.1", voucher["code"]))
    assert verify("203.0.113.2", unknown_code(5)).status_code == 404  # another client
    assert verify("203.0.113.2", voucher["code"]).status_code == 200


def test_without_trusted_proxies_x_forwarded_for_is_ignored(
    settings: Settings, database: Database, clock: Any
) -> None:
    assert settings.trusted_proxies == 0
    world = world_with(
        settings, database, code_failures_per_window=100, code_failures_per_address=2
    )
    voucher = world.issue().json["vouchers"][0]
    here = "203.0.113.50"
    statuses = [
        lookup(
            world, VERIFY, address=here, forwarded=f"198.51.100.{n}", code=unknown_code(n)
        ).status_code
        for n in range(3)
    ]
    assert statuses == [404, 404, 429]  # one address, whatever the header says
    assert_rate_limited(
        lookup(world, VERIFY, address=here, forwarded="198.51.100.99", code=voucher["code"])
    )
    assert lookup(world, VERIFY, address="203.0.113.51", code=voucher["code"]).status_code == 200


def test_without_redis_a_warning_says_the_count_is_per_worker_process(
    settings: Settings, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        create_app(settings, database, start_sequencer=False)
    warnings = [r for r in caplog.records if "REDIS_URL" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "per worker process" in warnings[0].getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        create_app(with_settings(settings, redis_url=CLOSED_PORT), database, start_sequencer=False)
    assert not [r for r in caplog.records if "REDIS_URL" in r.getMessage()]


def test_an_unreachable_redis_refuses_code_lookups_with_503_and_tokens_still_redeem(
    settings: Settings, database: Database
) -> None:
    world = world_with(settings, database, redis_url=CLOSED_PORT)
    voucher = world.issue().json["vouchers"][0]
    key = uuid.uuid4().hex
    for path, code in (
        (VERIFY, voucher["code"]),
        (REDEEM, voucher["code"]),
        (VERIFY, unknown_code(1)),
        (REDEEM, unknown_code(2)),
    ):
        response = lookup(world, path, key=key, code=code)
        assert response.status_code == 503, (path, response.json)
        assert response.mimetype == "application/problem+json"
        assert response.json["type"].endswith("/problems/service-unavailable")
        assert int(response.headers["Retry-After"]) > 0
    assert_still_issued(world, voucher)  # nothing changed
    # The refused redemption kept no claim on its key: the key is free for the next request.
    redeemed = lookup(world, REDEEM, key=key, token=voucher["token"])
    assert redeemed.status_code == 201, redeemed.json
    assert redeemed.json["voucher_id"] == voucher["id"]


def test_the_limits_in_redis_are_shared_by_every_worker(
    settings: Settings, database: Database, redis_client: redis.Redis, clock: Any
) -> None:
    changes = {
        "redis_url": REDIS_URL,
        "code_failures_per_window": 3,
        "code_failures_per_address": 5,
    }
    world = world_with(settings, database, **changes)
    other_worker = create_app(with_settings(settings, **changes), database, start_sequencer=False)
    second = other_worker.test_client()
    voucher = world.issue().json["vouchers"][0]
    here, elsewhere = random_address(), random_address()
    try:
        statuses = [
            lookup(world, VERIFY, "other_partner", here, code=unknown_code(n)).status_code
            for n in range(3)
        ]
        assert statuses == [404, 404, 404]
        fourth = lookup(world, VERIFY, "other_partner", here, client=second, code=unknown_code(3))
        assert_rate_limited(fourth)  # the partner's count is the same on every worker
        assert (
            lookup(world, REDEEM, "partner", here, client=second, code=unknown_code(4)).status_code
            == 404
        )
        assert_rate_limited(lookup(world, REDEEM, "partner", here, code=unknown_code(5)))
        for client in (world.client, second):
            assert_rate_limited(
                lookup(world, VERIFY, "partner", here, client=client, code=voucher["code"])
            )
        seen = lookup(world, VERIFY, "partner", elsewhere, client=second, code=voucher["code"])
        assert seen.status_code == 200, seen.json
        assert lookup(world, REDEEM, "partner", here, token=voucher["token"]).status_code == 201
    finally:
        for who in (world.partner_id, world.other_partner_id, here, elsewhere):
            mine = list(redis_client.scan_iter(f"voucher-service:code-failures:*:{who}:*"))
            if mine:
                redis_client.delete(*mine)
