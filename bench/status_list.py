"""`python -m bench.status_list`: the time to build a programme's Token Status List of
BENCH_STATUS_LIST_VOUCHERS vouchers (default 1,000,000) on PostgreSQL: the query, the packing,
the compression and the signature, as `GET /v1/status-lists/{code}` does on a cache miss.

The vouchers are written by COPY into a throwaway database, their statuses mixed as a
programme's late in its year (60 % issued, 25 % redeemed, 10 % expired, 5 % cancelled), their
indices drawn at random over a list that is at most half full. Prints one JSON object: the
median of BUILDS builds and of each step, the list's size, raw and compressed, and the token's.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from voucher_service.config import Settings
from voucher_service.context import ServiceContext
from voucher_service.db import Database
from voucher_service.migrate import upgrade
from voucher_service.organisations.models import Organisation
from voucher_service.programs.models import Program
from voucher_service.statuslists.capacity import capacity_for
from voucher_service.statuslists.lists import encode_lst, read_list, sign_list

PG = os.environ.get("VOUCHER_BENCH_PG", "postgresql://root@127.0.0.1:5432")
VOUCHERS = int(os.environ.get("BENCH_STATUS_LIST_VOUCHERS", "1000000"))
BUILDS = 5
BOOKLET = 10
MIX = (("issued", 60), ("redeemed", 25), ("expired", 10), ("cancelled", 5))
CODE = "BENCH-SL"

T = TypeVar("T")


def fresh_database(name: str) -> str:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"{PG}/{name}"


def drop_database(name: str) -> None:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def programme(database: Database, vouchers: int, moment: datetime) -> tuple[str, str]:
    """The programme (its list sized for `vouchers`) and a distributor: their ids."""
    with database.atomic() as session:
        program = Program(
            code=CODE,
            name="Bench status list",
            funder="Bench",
            budget_cents=vouchers * 1000,
            face_value_cents=1000,
            currency="EUR",
            booklet_size=BOOKLET,
            valid_from=moment - timedelta(days=365),
            valid_until=moment + timedelta(days=365),
            voucher_validity_days=365,
            max_vouchers_per_beneficiary=BOOKLET,
            territory=["87"],
            created_at=moment,
            status_list_capacity=capacity_for(vouchers),
            status_list_count=vouchers,
        )
        organisation = Organisation(name="Bench CCAS", kind="ccas", created_at=moment)
        session.add_all([program, organisation])
        session.flush()
        return program.id, organisation.id


def statuses(count: int) -> list[str]:
    """The mix, in a random order."""
    mixed = [status for status, share in MIX for _ in range(count * share // 100)]
    mixed += ["issued"] * (count - len(mixed))
    random.shuffle(mixed)
    return mixed


def copy_rows(dsn: str, program_id: str, organisation_id: str, count: int, at: datetime) -> None:
    """Booklets, then their vouchers, by COPY (no ledger: the list reads vouchers alone)."""
    indices = random.sample(range(capacity_for(count)), count)
    mixed = statuses(count)
    booklets = [str(uuid.uuid4()) for _ in range(-(-count // BOOKLET))]
    expires = at + timedelta(days=365)
    with psycopg.connect(dsn) as connection, connection.cursor() as cursor:
        with cursor.copy(
            "COPY booklets (id, program_id, organisation_id, beneficiary_hash, size, issued_at, "
            "issued_by, transfer_id) FROM STDIN"
        ) as copy:
            for booklet in booklets:
                copy.write_row(
                    (booklet, program_id, organisation_id, secrets.token_hex(32), BOOKLET, at,
                     booklet, str(uuid.uuid4()))
                )  # fmt: skip
        with cursor.copy(
            "COPY vouchers (id, jti, code_hash, booklet_id, program_id, position, value_cents, "
            "status, kid, issued_at, expires_at, redeemed_at, status_index) FROM STDIN"
        ) as copy:
            for n in range(count):
                status = mixed[n]
                copy.write_row(
                    (str(uuid.uuid4()), secrets.token_hex(11), secrets.token_hex(32),
                     booklets[n // BOOKLET], program_id, n % BOOKLET + 1, 1000, status,
                     "benchkid", at, expires, at if status == "redeemed" else None, indices[n])
                )  # fmt: skip
        connection.commit()
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")


def timed(step: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = step()
    return result, (time.perf_counter() - started) * 1000


def build_once(database: Database, ctx: ServiceContext, program_id: str) -> dict[str, Any]:
    """One build as a cache miss does it, each step timed (milliseconds)."""
    moment = datetime.now(UTC)
    started = time.perf_counter()

    def read() -> Any:
        with database.read() as session:
            return read_list(session, program_id)

    packed, query_and_pack_ms = timed(read)
    lst, compress_ms = timed(lambda: encode_lst(packed))
    subject = f"https://pass.example.fr/v1/status-lists/{CODE}"
    token, sign_ms = timed(lambda: sign_list(ctx.keys.voucher.current, subject, lst, moment))
    return {
        "total_ms": (time.perf_counter() - started) * 1000,
        "query_and_pack_ms": query_and_pack_ms,
        "compress_and_encode_ms": compress_ms,
        "sign_ms": sign_ms,
        "capacity": packed.capacity,
        "raw_bytes": len(packed.data),
        "lst_chars": len(lst),
        "token_bytes": len(token),
    }


def run(vouchers: int = VOUCHERS, builds: int = BUILDS) -> dict[str, Any]:
    name = "vs_bench_status_list"
    dsn = fresh_database(name)
    try:
        with tempfile.TemporaryDirectory() as keys:
            return _measure(dsn, Path(keys), vouchers, builds)
    finally:
        drop_database(name)


def _measure(dsn: str, keys: Path, vouchers: int, builds: int) -> dict[str, Any]:
    settings = Settings(database_url=dsn, keys_dir=keys, run_sequencer=False)
    ctx = ServiceContext.from_settings(settings)
    database = Database(dsn)
    try:
        upgrade(database)
        moment = datetime.now(UTC)
        program_id, organisation_id = programme(database, vouchers, moment)
        _, insert_ms = timed(lambda: copy_rows(dsn, program_id, organisation_id, vouchers, moment))
        print(f"{vouchers:,} vouchers written in {insert_ms / 1000:.1f} s", file=sys.stderr)
        build_once(database, ctx, program_id)  # warm: the first read pulls the table in
        runs = [build_once(database, ctx, program_id) for _ in range(builds)]
    finally:
        database.dispose()
    last = runs[-1]
    return {
        "vouchers": vouchers,
        "mix_percent": dict(MIX),
        "builds": builds,
        "median_build_ms": _median(runs, "total_ms"),
        "median_query_and_pack_ms": _median(runs, "query_and_pack_ms"),
        "median_compress_and_encode_ms": _median(runs, "compress_and_encode_ms"),
        "median_sign_ms": _median(runs, "sign_ms"),
        "capacity_entries": last["capacity"],
        "raw_list_bytes": last["raw_bytes"],
        "compressed_list_bytes": _compressed_bytes(last["lst_chars"]),
        "lst_chars": last["lst_chars"],
        "token_bytes": last["token_bytes"],
        "insert_seconds": round(insert_ms / 1000, 1),
    }


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return round(float(statistics.median(run[key] for run in runs)), 1)


def _compressed_bytes(lst_chars: int) -> int:
    """The deflated list's size from its base64url length (4 characters carry 3 bytes)."""
    return lst_chars * 3 // 4


def main() -> None:
    print(json.dumps(run(), indent=2))


if __name__ == "__main__":
    main()
