"""The ledger's speeds: sequencer integration rate, proof latency, offline verification rate."""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from bench import verify_bench
from bench.redemption import fresh_database
from voucher_service.config import Settings
from voucher_service.context import ServiceContext
from voucher_service.db import Database
from voucher_service.ledger import log
from voucher_service.ledger.balances import balances
from voucher_service.ledger.merkle import leaf_hash
from voucher_service.ledger.sequencer import integrate_all
from voucher_service.migrate import upgrade

INTEGRATE = int(os.environ.get("BENCH_LEDGER_ENTRIES", "100000"))
VERIFY = int(os.environ.get("BENCH_VERIFY_ENTRIES", "1000000"))


def load_queue(dsn: str, count: int) -> None:
    """Queue `count` realistic committed transfers, as redemptions and issues leave them."""
    postings = []
    with psycopg.connect(dsn) as connection, connection.cursor() as cursor:
        with cursor.copy(
            "COPY ledger_transfers (id, kind, at, program_id, partner_id, entry, leaf_hash) "
            "FROM STDIN"
        ) as copy:
            for line in verify_bench.synthetic_entries(count):
                entry = json.loads(line)
                refs = (entry["id"], entry["kind"], entry["at"], entry.get("program_id"))
                copy.write_row((*refs, entry.get("partner_id"), line.decode(), leaf_hash(line)))
                postings += [
                    (entry["id"], position, p["source"], p["destination"], p["amount"])
                    for position, p in enumerate(entry["postings"])
                ]
        with cursor.copy(
            "COPY ledger_postings (transfer_id, position, source, destination, amount) FROM STDIN"
        ) as copy:
            for posting in postings:
                copy.write_row(posting)
        cursor.execute(
            "INSERT INTO log_queue (transfer_id) SELECT id FROM ledger_transfers ORDER BY id"
        )


def run() -> dict[str, Any]:
    dsn = fresh_database("vs_bench_ledger")
    with tempfile.TemporaryDirectory() as keys:
        settings = Settings(database_url=dsn, keys_dir=Path(keys), run_sequencer=False)
        ctx = ServiceContext.from_settings(settings)
        database = Database(dsn)
        upgrade(database)
        load_queue(dsn, INTEGRATE)
        started = time.perf_counter()
        done = integrate_all(database, ctx)
        seconds = time.perf_counter() - started
        proofs = proof_timings(database, ctx, done.size)
        with database.read() as session:
            started = time.perf_counter()
            accounts = len(balances(session, done.size))
            proofs["balances_ms"] = round((time.perf_counter() - started) * 1000, 1)
            proofs["balances_accounts"] = accounts
        database.dispose()
    return {
        "sequencer": {
            "entries": done.count,
            "seconds": round(seconds, 2),
            "entries_per_s": round(done.count / seconds),
        },
        "proofs": proofs,
        "verify": verify_bench.run(VERIFY),
    }


def proof_timings(database: Database, ctx: ServiceContext, size: int) -> dict[str, float]:
    """Median milliseconds of an inclusion and a consistency proof, read from the database."""
    rng = random.Random(7)
    inclusion, consistency = [], []
    with database.read() as session:
        for _ in range(200):
            started = time.perf_counter()
            log.inclusion(session, ctx, rng.randrange(size), size)
            inclusion.append(time.perf_counter() - started)
            started = time.perf_counter()
            log.consistency(session, ctx, rng.randrange(1, size), size)
            consistency.append(time.perf_counter() - started)
    return {
        "log_size": size,
        "inclusion_ms_p50": round(statistics.median(inclusion) * 1000, 3),
        "consistency_ms_p50": round(statistics.median(consistency) * 1000, 3),
    }


if __name__ == "__main__":
    json.dump(run(), sys.stdout, indent=2)
    print()
