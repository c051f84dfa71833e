"""Grows a programme to N vouchers in minutes: the rows issuance would leave, sent by COPY,
then the ledger integrated by the service's own sequencer and the statistics refreshed."""

from __future__ import annotations

import itertools
import random
import secrets
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import select

from bench.scale_setup import BOOKLET, FACE_VALUE_CENTS, VALIDITY_DAYS, Programme
from voucher_service.clock import now
from voucher_service.context import ServiceContext
from voucher_service.db import Database
from voucher_service.ledger import kinds
from voucher_service.ledger.sequencer import integrate_all
from voucher_service.ledger.writes import transfer_rows
from voucher_service.programs.models import Program
from voucher_service.statuslists.capacity import capacity_for
from voucher_service.vouchers.codes import code_hash, derive_code
from voucher_service.vouchers.models import Voucher
from voucher_service.vouchers.tokens import new_jti, voucher_id_for

CHUNK = 50_000  # vouchers a transaction: memory stays small, progress shows
Tables = dict[str, list[dict[str, Any]]]


@dataclass(frozen=True)
class Grown:
    vouchers: int
    seconds: dict[str, float]  # rows, sequencer, vacuum, total
    sample: list[str]  # jtis of grown vouchers picked at random, to sign tokens for
    expires_at: datetime  # every grown voucher's, in whole seconds as a token's exp


def grow(
    database: Database,
    ctx: ServiceContext,
    programme: Programme,
    vouchers: int,
    sample_size: int,
    progress: Callable[[str], None],
) -> Grown:
    """Add `vouchers` issued vouchers to the programme, in booklets of ten, as issuance would."""
    dsn = database.url.replace("postgresql+psycopg://", "postgresql://")
    moment = now()
    expires_at = moment.replace(microsecond=0) + timedelta(days=VALIDITY_DAYS)
    picked = set(random.sample(range(vouchers), min(sample_size, vouchers)))
    sample: list[str] = []
    started = time.perf_counter()
    indices = status_indices(database, programme.id, vouchers)

    def rows(first: int) -> Tables:
        count = min(CHUNK, vouchers - first)
        return booklet_rows(
            ctx, programme, first, count, moment, expires_at, picked, sample, indices
        )

    # The next chunk is made while PostgreSQL takes this one in (COPY waits on the socket).
    firsts = list(range(0, vouchers, CHUNK))
    with psycopg.connect(dsn) as connection, ThreadPoolExecutor(1) as maker:
        made = maker.submit(rows, firsts[0])
        for first, after in zip(firsts, [*firsts[1:], None], strict=True):
            tables = made.result()
            if after is not None:
                made = maker.submit(rows, after)
            copy_tables(connection, tables)
            connection.commit()
            progress(f"rows for {min(first + CHUNK, vouchers):,} of {vouchers:,} vouchers")
    seconds = {"rows": time.perf_counter() - started}
    lap = time.perf_counter()
    integrated = integrate_all(database, ctx)
    seconds["sequencer"] = time.perf_counter() - lap
    progress(
        f"sequencer integrated {integrated.count:,} entries; the log holds {integrated.size:,}"
    )
    lap = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    seconds["vacuum_analyze"] = time.perf_counter() - lap
    seconds["total"] = time.perf_counter() - started
    return Grown(vouchers, {k: round(v, 1) for k, v in seconds.items()}, sample, expires_at)


def status_indices(database: Database, program_id: str, vouchers: int) -> list[int]:
    """Random free places in the programme's status list for `vouchers` more vouchers, the
    list grown as issuance grows it; the programme's capacity and count are updated."""
    with database.atomic() as session:
        program = session.get(Program, program_id, with_for_update=True)
        assert program is not None
        taken = set(
            session.scalars(select(Voucher.status_index).where(Voucher.program_id == program_id))
        )
        count = program.status_list_count + vouchers
        capacity = capacity_for(count, program.status_list_capacity)
        free = (index for index in random.sample(range(capacity), count) if index not in taken)
        drawn = list(itertools.islice(free, vouchers))
        program.status_list_capacity, program.status_list_count = capacity, count
    return drawn


def booklet_rows(
    ctx: ServiceContext,
    programme: Programme,
    first: int,
    count: int,
    moment: datetime,
    expires_at: datetime,
    picked: set[int],
    sample: list[str],
    indices: list[int],
) -> Tables:
    """The rows of vouchers [first, first + count): booklets, vouchers, then each booklet's
    issue transfer as the ledger's writer lays it out (the foreign keys' order)."""
    secret, kid = ctx.keys.secret, ctx.keys.voucher.current.kid
    tables: Tables = {"booklets": [], "vouchers": []}
    for start in range(first, first + count, BOOKLET):
        size = min(BOOKLET, first + count - start)
        booklet_id, transfer_id = str(uuid.uuid4()), str(uuid.uuid4())
        ids = []
        for position in range(1, size + 1):
            jti = new_jti()
            ids.append(voucher_id_for(jti))
            if start + position - 1 in picked:
                sample.append(jti)
            tables["vouchers"].append(
                {
                    "id": ids[-1],
                    "jti": jti,
                    "code_hash": code_hash(secret, derive_code(secret, jti)),
                    "booklet_id": booklet_id,
                    "program_id": programme.id,
                    "position": position,
                    "value_cents": FACE_VALUE_CENTS,
                    "status": "issued",
                    "kid": kid,
                    "issued_at": moment,
                    "expires_at": expires_at,
                    "status_index": indices[start + position - 1],
                }
            )
        tables["booklets"].append(
            {
                "id": booklet_id,
                "program_id": programme.id,
                "organisation_id": programme.organisation_id,
                # Looks like the keyed hash of a case reference, and is nobody's.
                "beneficiary_hash": secrets.token_hex(32),
                "size": size,
                "issued_at": moment,
                "issued_by": programme.issuer_key_id,
                "transfer_id": transfer_id,
            }
        )
        amount = size * FACE_VALUE_CENTS
        transfer = kinds.issue(moment, programme.id, booklet_id, ids, amount, transfer_id)
        for table, row in transfer_rows(transfer):
            tables.setdefault(table.name, []).append(row)
    return tables


def copy_tables(connection: psycopg.Connection[Any], tables: Tables) -> None:
    """COPY each table's rows, in the order given."""
    with connection.cursor() as cursor:
        for table, rows in tables.items():
            columns = list(rows[0])
            statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
            )
            with cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row([row[column] for column in columns])
