"""/metrics: request, redemption and refusal counts, the ledger's lag, who may read them,
and the multiprocess mode gunicorn's workers share."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Clock, World, with_settings
from voucher_service.config import Settings
from voucher_service.db import Database
from voucher_service.ledger.sequencer import integrate_all
from voucher_service.web.app import create_app

REDEMPTIONS_ROUTE = {"method": "POST", "route": "/v1/redemptions"}


def scrape(client: FlaskClient, **headers: str) -> str:
    answer = client.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.content_type.startswith("text/plain; version=0.0.4")
    return answer.get_data(as_text=True)


def value(exposition: str, name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels` (0 if none)."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def has_sample(exposition: str, name: str) -> bool:
    return any(
        sample.name == name
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    )


def issue_one(world: World) -> dict[str, Any]:
    issued = world.issue(size=2)
    assert issued.status_code == 201, issued.json
    voucher: dict[str, Any] = issued.json["vouchers"][0]
    return voucher


def test_a_redemption_counts_its_request_by_route_and_status_and_the_redemption(
    world: World,
) -> None:
    voucher = issue_one(world)
    before = scrape(world.client)
    assert world.redeem(token=voucher["token"]).status_code == 201
    after = scrape(world.client)

    requests = "voucher_service_http_requests_total"
    assert value(after, requests, **REDEMPTIONS_ROUTE, status="201") == (
        value(before, requests, **REDEMPTIONS_ROUTE, status="201") + 1
    )
    durations = "voucher_service_http_request_duration_seconds_count"
    assert value(after, durations, **REDEMPTIONS_ROUTE) == (
        value(before, durations, **REDEMPTIONS_ROUTE) + 1
    )
    redeemed = "voucher_service_redemptions_total"
    assert value(after, redeemed) == value(before, redeemed) + 1
    assert value(after, "voucher_service_ledger_queue_length") >= 1
    assert value(after, "voucher_service_database_up") == 1


def test_refusals_are_counted_by_slug_and_a_replay_is_not_a_second_redemption(
    world: World,
) -> None:
    voucher = issue_one(world)
    assert world.redeem(key="once", token=voucher["token"]).status_code == 201
    before = scrape(world.client)
    assert world.redeem(key="once", token=voucher["token"]).status_code == 201  # a replay
    assert world.redeem(token=voucher["token"]).status_code == 409
    assert world.redeem(code="0000-0000-0000-1").status_code == 400  # a mistyped code
    after = scrape(world.client)

    assert value(after, "voucher_service_redemptions_total") == value(
        before, "voucher_service_redemptions_total"
    )
    refusals = "voucher_service_redemption_refusals_total"
    slug = "voucher-already-redeemed"
    assert value(after, refusals, slug=slug) == value(before, refusals, slug=slug) + 1
    assert value(after, refusals) == value(before, refusals) + 2
    conflicts = value(
        after, "voucher_service_http_requests_total", **REDEMPTIONS_ROUTE, status="409"
    )
    assert conflicts >= 1


def test_routes_are_labelled_by_their_rule_never_by_the_path_with_its_ids(
    world: World,
) -> None:
    booklet_id = str(uuid.uuid4())
    assert (
        world.client.get(f"/v1/booklets/{booklet_id}", headers=world.headers("admin")).status_code
        == 404
    )
    assert world.client.get(f"/nowhere/{booklet_id}").status_code == 404
    exposition = scrape(world.client)

    assert booklet_id not in exposition
    rule = {"route": "/v1/booklets/<uuid:booklet_id>", "status": "404"}
    assert value(exposition, "voucher_service_http_requests_total", **rule) >= 1
    unmatched = {"route": "unmatched", "status": "404"}
    assert value(exposition, "voucher_service_http_requests_total", **unmatched) >= 1


def test_the_ledger_gauges_show_the_merge_delay_and_the_checkpoint(
    clock: Clock, app: Flask, world: World, database: Database
) -> None:
    """`clock` first: every transfer of the world is then dated by it."""
    issue_one(world)
    clock.advance(seconds=90)
    waiting = scrape(world.client)
    assert value(waiting, "voucher_service_ledger_queue_length") >= 1
    assert value(waiting, "voucher_service_ledger_merge_delay_seconds") >= 90
    assert not has_sample(waiting, "voucher_service_ledger_checkpoint_age_seconds")

    integrate_all(database, app.extensions["voucher_service"].context)
    clock.advance(seconds=7)
    integrated = scrape(world.client)
    assert value(integrated, "voucher_service_ledger_queue_length") == 0
    assert value(integrated, "voucher_service_ledger_merge_delay_seconds") == 0
    assert value(integrated, "voucher_service_ledger_checkpoint_age_seconds") == 7
    assert value(integrated, "voucher_service_ledger_checkpoint_size") >= 2


def test_every_gauge_says_what_it_measures(client: FlaskClient) -> None:
    families = list(text_string_to_metric_families(scrape(client)))
    ours = [family for family in families if family.name.startswith("voucher_service_")]
    assert {family.name for family in ours} >= {
        "voucher_service_http_requests",
        "voucher_service_http_request_duration_seconds",
        "voucher_service_redemptions",
        "voucher_service_redemption_refusals",
        "voucher_service_ledger_queue_length",
        "voucher_service_ledger_merge_delay_seconds",
        "voucher_service_ledger_checkpoint_age_seconds",
        "voucher_service_ledger_checkpoint_size",
        "voucher_service_database_up",
    }
    assert all(len(family.documentation) > 20 for family in ours)


@pytest.fixture
def guarded(settings: Settings, database: Database) -> FlaskClient:
    """A service that asks for a metrics token."""
    app = create_app(
        with_settings(settings, metrics_token="metrics-secret-7f3a"),
        database,
        start_sequencer=False,
    )
    return app.test_client()


def test_with_a_token_set_only_its_bearer_reads_the_metrics(guarded: FlaskClient) -> None:
    assert guarded.get("/metrics").status_code == 401
    wrong = guarded.get("/metrics", headers={"Authorization": "Bearer metrics-secret-7f3b"})
    assert wrong.status_code == 401
    assert wrong.content_type == "application/problem+json"
    assert "voucher_service" not in wrong.get_data(as_text=True)
    scrape(guarded, Authorization="Bearer metrics-secret-7f3a")


def test_in_production_without_a_token_the_metrics_are_closed(
    app: Flask, settings: Settings, database: Database
) -> None:
    """`app` first: a development start makes the keys production then finds."""
    production = with_settings(settings, environment="production", secret=os.urandom(32))
    client = create_app(production, database, start_sequencer=False).test_client()
    refused = client.get("/metrics")
    assert refused.status_code == 403
    assert refused.json["type"].endswith("/problems/forbidden")
    assert "VOUCHER_SERVICE_METRICS_TOKEN" in refused.json["detail"]


def test_a_scrape_answers_even_when_the_database_does_not(
    settings: Settings, tmp_path: Path
) -> None:
    unreachable = with_settings(
        settings, database_url="postgresql+psycopg://root@127.0.0.1:1/none?connect_timeout=1"
    )
    client = create_app(unreachable, start_sequencer=False).test_client()
    exposition = scrape(client)
    assert value(exposition, "voucher_service_database_up") == 0
    assert not has_sample(exposition, "voucher_service_ledger_queue_length")


REQUESTS_IN_A_WORKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    from voucher_service.config import Settings
    from voucher_service.web.app import create_app

    settings = Settings(database_url=sys.argv[1], keys_dir=Path(sys.argv[2]))
    client = create_app(settings, start_sequencer=False).test_client()
    for path in sys.argv[3:]:
        answer = client.get(path)
        assert answer.status_code == 200, answer.status_code
    sys.stdout.write(answer.get_data(as_text=True))
    """
)


def test_in_multiprocess_mode_a_scrape_adds_up_every_worker(
    settings: Settings, tmp_path: Path
) -> None:
    """As under gunicorn: each process writes its counts to PROMETHEUS_MULTIPROC_DIR, and the
    one that answers /metrics reads everyone's, its own process registry unused."""
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared)}

    def worker(*paths: str) -> str:
        run = subprocess.run(
            [
                sys.executable,
                "-c",
                REQUESTS_IN_A_WORKER,
                settings.database_url,
                str(settings.keys_dir),
                *paths,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        return run.stdout

    worker("/healthz", "/healthz")
    worker("/healthz")
    exposition = worker("/metrics")

    assert list(shared.glob("*.db"))
    healthz = {"method": "GET", "route": "/healthz", "status": "200"}
    assert value(exposition, "voucher_service_http_requests_total", **healthz) == 3
    assert value(exposition, "voucher_service_ledger_queue_length") == 0
    assert "process_cpu_seconds_total" not in exposition  # the process registry is not read
