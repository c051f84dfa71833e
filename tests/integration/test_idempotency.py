"""Idempotency-Key (CONTRACT §4): replay the first success, refuse reuse, store no refusal."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.conftest import World


@pytest.fixture
def tokens(world: World) -> list[str]:
    return [v["token"] for v in world.issue().json["vouchers"]]


def test_a_retry_with_the_same_key_returns_the_first_answer(
    world: World, tokens: list[str]
) -> None:
    first = world.redeem(key="r-1", token=tokens[0])
    retry = world.redeem(key="r-1", token=tokens[0])
    assert first.status_code == retry.status_code == 201
    assert retry.data == first.data
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers


def test_the_same_key_with_another_body_is_refused(world: World, tokens: list[str]) -> None:
    world.redeem(key="r-1", token=tokens[0])
    reused = world.redeem(key="r-1", token=tokens[1])
    assert reused.status_code == 422
    assert reused.json["type"].endswith("/problems/idempotency-key-reused")
    assert world.redeem(key="r-2", token=tokens[1]).status_code == 201


def test_keys_are_scoped_to_the_api_key_that_sent_them(world: World) -> None:
    first = world.client.post(
        "/v1/booklets",
        json={"program_id": world.program_id, "beneficiary_ref": "a"},
        headers=world.headers("issuer", "shared-key"),
    )
    assert first.status_code == 201
    admin = world.headers("admin")
    other_issuer = world.client.post(
        "/v1/api-keys",
        json={"role": "issuer", "organisation_id": world.organisation_id},
        headers=admin,
    ).json["key"]
    second = world.client.post(
        "/v1/booklets",
        json={"program_id": world.program_id, "beneficiary_ref": "a"},
        headers={"Authorization": f"Bearer {other_issuer}", "Idempotency-Key": "shared-key"},
    )
    assert second.status_code == 201
    assert second.json["id"] != first.json["id"]


def test_a_refused_request_stores_nothing_so_its_retry_is_judged_afresh(
    world: World, tokens: list[str]
) -> None:
    world.redeem(key="first", token=tokens[0])
    refused = world.redeem(key="r-9", token=tokens[0])
    assert refused.status_code == 409
    # Had the refusal been kept, another body under the same key would be 422 or a replay.
    retried = world.redeem(key="r-9", token=tokens[1])
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried.headers
    refused_booklet = world.client.post(
        "/v1/booklets",
        json={"program_id": world.program_id, "beneficiary_ref": "x", "size": 50},
        headers=world.headers("issuer", "b-9"),
    )
    assert refused_booklet.status_code == 400
    issued = world.client.post(
        "/v1/booklets",
        json={"program_id": world.program_id, "beneficiary_ref": "x"},
        headers=world.headers("issuer", "b-9"),
    )
    assert issued.status_code == 201


def test_a_request_without_a_key_is_refused(world: World, tokens: list[str]) -> None:
    response = world.client.post(
        "/v1/redemptions", json={"token": tokens[0]}, headers=world.headers("partner")
    )
    assert response.status_code == 400
    assert response.json["type"].endswith("/problems/idempotency-key-required")
    assert world.redeem(token=tokens[0]).status_code == 201


@pytest.mark.parametrize("key", ["", "x" * 256, "clé", "tab\there"])
def test_a_malformed_key_is_an_invalid_request(world: World, tokens: list[str], key: str) -> None:
    response: Any = world.client.post(
        "/v1/redemptions",
        json={"token": tokens[0]},
        headers={**world.headers("partner"), "Idempotency-Key": key},
    )
    assert response.status_code == 400
    assert response.json["type"].endswith("/problems/invalid-request")


def test_the_service_purges_old_keys_on_its_own(app: Flask, world: World, clock: Any) -> None:
    """Keys past their retention go without anyone running `idempotency purge`: the
    service's periodic jobs purge them at start and every hour."""
    import time

    from sqlalchemy import func, select

    from voucher_service.idempotency.models import IdempotencyRecord
    from voucher_service.jobs import BackgroundJobs, periodic_jobs

    services = app.extensions["voucher_service"]
    world.issue()
    clock.advance(hours=73)
    world.issue()

    def kept() -> int:
        with services.database.read() as session:
            return int(session.scalar(select(func.count()).select_from(IdempotencyRecord)))

    assert kept() == 2
    jobs = BackgroundJobs(periodic_jobs(services.database, services.context))
    jobs.start()
    try:
        deadline = time.monotonic() + 10
        while kept() != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        jobs.stop()
    assert kept() == 1
    assert {job.name for job in jobs.jobs} == {
        "ledger-sequencer",
        "idempotency-purge",
        "voucher-expiry",
    }
