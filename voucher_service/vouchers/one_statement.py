"""PostgreSQL's executor of a redemption: the rule and the rows, sent as one statement.

The redemption's conditional UPDATE (`claimable.claim`) becomes a CTE, and each row the
redemption inserts (the transfer, its posting, its place in the log queue, the redemption)
plus the Idempotency-Key's record is inserted from it: only if the voucher flipped are they
written. Run in autocommit, that statement is the whole transaction, in one round trip.
The SQL is compiled once per process from the same SQLAlchemy expressions the general
path executes. Anything unusual (a voucher the rule refuses, a key used before) writes
nothing and returns False: the general path then refuses or replays.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import psycopg
from sqlalchemy import CTE, Table, bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import psycopg as postgresql_psycopg

from voucher_service.db import Database
from voucher_service.idempotency.api import Idempotency
from voucher_service.idempotency.models import IdempotencyRecord
from voucher_service.ledger.writes import Rows
from voucher_service.vouchers.claimable import claim
from voucher_service.vouchers.models import Voucher

Shape = tuple[tuple[Table, tuple[str, ...]], ...]

_DIALECT = postgresql_psycopg.dialect()  # type: ignore[no-untyped-call]
_compiled: dict[Shape, tuple[str, dict[str, Any]]] = {}
_lock = threading.Lock()


def redeem(
    database: Database,
    rows: Rows,
    rule: dict[str, Any],
    idem: Idempotency,
    body: str,
    now: datetime,
) -> bool:
    """Claim the voucher and write every row in one statement; False if nothing was written."""
    record = cast(Table, IdempotencyRecord.__table__)
    rows = [
        *rows,
        (
            record,
            {
                "principal_id": idem.principal_id,
                "key": idem.key,
                "fingerprint": idem.fingerprint,
                "status_code": 201,
                "body": body,
                "created_at": now,
            },
        ),
    ]
    sql, constants = statement(tuple((table, tuple(row)) for table, row in rows))
    parameters = {**constants, **rule}
    for number, (_, row) in enumerate(rows):
        parameters.update({f"w{number}_{column}": value for column, value in row.items()})
    pooled = database.engine.raw_connection()
    try:
        connection: psycopg.Connection[tuple[object, ...]] = pooled.driver_connection  # type: ignore[assignment]
        connection.autocommit = True
        try:
            written = connection.execute(sql, parameters).fetchone()
        except psycopg.errors.UniqueViolation:
            return False  # the key was used before: the general path replays or refuses
        finally:
            connection.autocommit = False
    finally:
        pooled.close()
    return written is not None and written[0] == 1


def statement(shape: Shape) -> tuple[str, dict[str, Any]]:
    """The SQL for rows of this shape, compiled on first use and kept, with the values of
    the constants the expressions hold (the statuses)."""
    found = _compiled.get(shape)
    if found is None:
        with _lock:
            found = _compiled[shape] = _compile(shape)
    return found


def _compile(shape: Shape) -> tuple[str, dict[str, Any]]:
    claimed = claim(by_token=True).returning(Voucher.id).cte("voucher")
    writes = [_insert_from(claimed, number, *table) for number, table in enumerate(shape)]
    sql = select(func.count()).select_from(claimed).add_cte(*writes)
    compiled = sql.compile(dialect=_DIALECT)
    constants = {name: value for name, value in compiled.params.items() if value is not None}
    return str(compiled), constants


def _insert_from(claimed: CTE, number: int, table: Table, columns: Sequence[str]) -> CTE:
    values = select(
        *(bindparam(f"w{number}_{column}", type_=table.c[column].type) for column in columns)
    ).select_from(claimed)
    return insert(table).from_select(list(columns), values).cte(f"w{number}")
