"""The periodic jobs of a service process: the ledger sequencer every few seconds, the
purge of old idempotency keys every hour, the expiry of vouchers daily. They run in one
background thread beside the requests; each job's failure is logged and retried at its next
turn."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from voucher_service.clock import now
from voucher_service.context import ServiceContext
from voucher_service.db import Database
from voucher_service.idempotency.api import purge
from voucher_service.ledger.sequencer import integrate_all
from voucher_service.vouchers.expiry import expire_vouchers

log = logging.getLogger(__name__)
PURGE_EVERY_SECONDS = 3600.0
# At start, then daily: a voucher is refused from its expiry on whatever its status, so the
# job only gives its value back to the programme; a day late costs nothing.
EXPIRE_EVERY_SECONDS = 86_400.0


@dataclass(frozen=True)
class Job:
    name: str
    every_seconds: float
    run: Callable[[], object]


def periodic_jobs(database: Database, ctx: ServiceContext) -> list[Job]:
    """What a process runs besides requests; the sequencer well within the merge delay."""
    return [
        Job(
            "ledger-sequencer",
            max(0.2, ctx.settings.merge_delay_seconds / 4),
            lambda: integrate_all(database, ctx),
        ),
        Job("idempotency-purge", PURGE_EVERY_SECONDS, lambda: purge(database, now())),
        Job("voucher-expiry", EXPIRE_EVERY_SECONDS, lambda: expire_vouchers(database, now())),
    ]


class BackgroundJobs:
    """Runs each job at start, then every `every_seconds`, until stopped."""

    def __init__(self, jobs: list[Job]) -> None:
        self.jobs = jobs
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="periodic-jobs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        due = {job.name: time.monotonic() for job in self.jobs}
        while not self._stop.is_set():
            for job in self.jobs:
                if time.monotonic() >= due[job.name]:
                    self._run_one(job)
                    due[job.name] = time.monotonic() + job.every_seconds
            self._stop.wait(max(0.0, min(due.values()) - time.monotonic()))

    @staticmethod
    def _run_one(job: Job) -> None:
        try:
            job.run()
        except Exception:  # the next turn retries; a crash here must not kill the worker
            log.exception("periodic job %s failed", job.name)
