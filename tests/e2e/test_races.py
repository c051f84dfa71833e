"""Races through the running app: 48 threads on one voucher; one key stormed by 48 retries."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.serving import make_server

from tests.conftest import World
from voucher_service.ledger.models import LedgerTransfer
from voucher_service.vouchers.models import Redemption

THREADS = 48


@pytest.fixture
def live_server(app: Flask) -> Iterator[tuple[str, int]]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "127.0.0.1", server.server_port
    server.shutdown()
    thread.join()


def post_all(
    address: tuple[str, int],
    requests: list[tuple[dict[str, str], dict[str, Any]]],
    path: str = "/v1/redemptions",
) -> list[tuple[int, bytes, dict[str, str]]]:
    """Send every request at once, each from its own thread and connection."""
    barrier = threading.Barrier(len(requests))
    results: list[tuple[int, bytes, dict[str, str]]] = [(0, b"", {})] * len(requests)

    def send(slot: int) -> None:
        headers, body = requests[slot]
        connection = http.client.HTTPConnection(*address, timeout=60)
        barrier.wait()
        connection.request(
            "POST", path, json.dumps(body),
            {**headers, "Content-Type": "application/json"},
        )  # fmt: skip
        response = connection.getresponse()
        results[slot] = (response.status, response.read(), dict(response.getheaders()))
        connection.close()

    threads = [threading.Thread(target=send, args=(slot,)) for slot in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def counts(app: Flask) -> tuple[int, int]:
    with app.extensions["voucher_service"].database.read() as session:
        redemptions = session.scalar(select(func.count()).select_from(Redemption))
        redeems = session.scalar(
            select(func.count()).select_from(LedgerTransfer).where(LedgerTransfer.kind == "redeem")
        )
    return int(redemptions or 0), int(redeems or 0)


@pytest.mark.slow
def test_48_threads_redeeming_one_voucher_make_exactly_one_redemption(
    app: Flask, world: World, live_server: tuple[str, int]
) -> None:
    token = world.issue().json["vouchers"][0]["token"]
    requests = [(world.headers("partner", f"race-{n}"), {"token": token}) for n in range(THREADS)]
    results = post_all(live_server, requests)
    statuses = sorted(status for status, _, _ in results)
    assert statuses.count(201) == 1, statuses
    assert statuses.count(409) == THREADS - 1, statuses
    for status, body, _ in results:
        if status == 409:
            assert json.loads(body)["type"].endswith("/problems/voucher-already-redeemed")
    assert counts(app) == (1, 1)


@pytest.mark.slow
def test_a_storm_of_one_key_redeems_once_and_replays_the_first_answer(
    app: Flask, world: World, live_server: tuple[str, int]
) -> None:
    token = world.issue().json["vouchers"][0]["token"]
    requests = [(world.headers("partner", "storm"), {"token": token})] * THREADS
    results = post_all(live_server, requests)
    assert {status for status, _, _ in results} == {201}, [s for s, _, _ in results]
    assert len({body for _, body, _ in results}) == 1
    replayed = [h.get("Idempotent-Replayed") for _, _, h in results]
    assert replayed.count("true") == THREADS - 1
    assert counts(app) == (1, 1)


@pytest.mark.slow
def test_concurrent_issuers_cannot_spend_more_than_the_budget(
    app: Flask, client: Any, live_server: tuple[str, int]
) -> None:
    from tests.conftest import make_world

    world = make_world(app, client, budget_cents=25_000)
    requests = [
        (world.headers("issuer", f"issue-{n}"),
         {"program_id": world.program_id, "beneficiary_ref": f"case-{n}"})
        for n in range(8)
    ]  # fmt: skip
    results = post_all(live_server, requests, "/v1/booklets")
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [201, 201] + [409] * 6, statuses
    figures = world.client.get(
        f"/v1/programs/{world.program_id}", headers=world.headers("admin")
    ).json["figures"]
    assert figures["issued_cents"] == 20_000
    assert figures["available_cents"] == 5_000
