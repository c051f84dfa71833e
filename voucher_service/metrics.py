"""What /metrics tells operators: requests and redemptions counted as they happen, and the
ledger's sequencing lag read from the database when Prometheus scrapes."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from voucher_service.clock import now
from voucher_service.db import Database
from voucher_service.ledger.models import LedgerCheckpoint, LedgerTransfer, LogQueue

log = logging.getLogger(__name__)

# Under gunicorn each worker writes its counts to files in this directory, and the one
# that answers a scrape adds them all up (prometheus_client's multiprocess mode).
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

HTTP_REQUESTS = Counter(
    "voucher_service_http_requests",
    "HTTP requests answered, by method, route (the URL rule, not the path) and status.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "voucher_service_http_request_duration_seconds",
    "Time from a request's arrival to its answer, by method and route.",
    ["method", "route"],
)
REDEMPTIONS = Counter(
    "voucher_service_redemptions",
    "Vouchers redeemed: 201 answers to POST /v1/redemptions, replays not counted.",
)
REDEMPTION_REFUSALS = Counter(
    "voucher_service_redemption_refusals",
    "Redemptions refused, by the problem type's slug (voucher-already-redeemed, ...).",
    ["slug"],
)


@dataclass(frozen=True)
class LedgerLag:
    """How far the Merkle log trails the committed transfers."""

    queue_length: int
    oldest_queued_at: datetime | None
    checkpoint_at: datetime | None
    checkpoint_size: int | None


def read_ledger_lag(session: Session) -> LedgerLag:
    """Three index-backed reads: the queue's length, its head, the latest checkpoint."""
    length = session.scalar(select(func.count()).select_from(LogQueue)) or 0
    oldest = session.scalar(
        select(LedgerTransfer.at)
        .join(LogQueue, LogQueue.transfer_id == LedgerTransfer.id)
        .order_by(LogQueue.seq)
        .limit(1)
    )
    latest = session.execute(
        select(LedgerCheckpoint.created_at, LedgerCheckpoint.size)
        .order_by(LedgerCheckpoint.size.desc())
        .limit(1)
    ).first()
    return LedgerLag(
        int(length),
        oldest,
        None if latest is None else latest.created_at,
        None if latest is None else int(latest.size),
    )


class LedgerCollector:
    """The sequencer's gauges, computed at scrape time by the process that answers it: the
    database is the one truth every worker shares, so no worker keeps a copy."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "voucher_service_database_up",
            "1 when the database answered this scrape's ledger queries, else 0.",
        )
        try:
            with self.database.read() as session:
                lag = read_ledger_lag(session)
        except SQLAlchemyError as error:
            log.warning("ledger metrics not read: the database cannot be reached: %s", error)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from ledger_gauges(lag, now())


def ledger_gauges(lag: LedgerLag, moment: datetime) -> Iterable[Metric]:
    queue = GaugeMetricFamily(
        "voucher_service_ledger_queue_length",
        "Ledger transfers committed but not yet sequenced into the Merkle log.",
        value=lag.queue_length,
    )
    delay = GaugeMetricFamily(
        "voucher_service_ledger_merge_delay_seconds",
        "Age of the oldest transfer waiting for the sequencer (0 when none waits); "
        "past the maximum merge delay, the sequencer is late or stopped.",
        value=_age(lag.oldest_queued_at, moment),
    )
    checkpoint_age = GaugeMetricFamily(
        "voucher_service_ledger_checkpoint_age_seconds",
        "Age of the latest signed checkpoint (no sample before the first one).",
    )
    checkpoint_size = GaugeMetricFamily(
        "voucher_service_ledger_checkpoint_size",
        "Entries in the Merkle log as of the latest signed checkpoint.",
    )
    if lag.checkpoint_at is not None and lag.checkpoint_size is not None:
        checkpoint_age.add_metric([], _age(lag.checkpoint_at, moment))
        checkpoint_size.add_metric([], lag.checkpoint_size)
    return [queue, delay, checkpoint_age, checkpoint_size]


def _age(moment: datetime | None, at: datetime) -> float:
    return 0.0 if moment is None else max(0.0, (at - moment).total_seconds())


class _Scrape:
    """Several collectors read as one registry."""

    def __init__(self, *collectors: Collector) -> None:
        self.collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


def process_metrics() -> Collector:
    """Every worker's counts when PROMETHEUS_MULTIPROC_DIR is set (gunicorn), else this
    process's registry (development server, tests)."""
    directory = os.environ.get(MULTIPROCESS_DIR)
    if not directory:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return registry


def exposition(database: Database) -> bytes:
    """The Prometheus text format of every metric, the ledger's read now."""
    return generate_latest(_Scrape(process_metrics(), LedgerCollector(database)))
