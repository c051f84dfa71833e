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
from itertools import chain
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
_compiled: dict[tuple[Any, ...], tuple[str, dict[str, Any]]] = {}
_slot_types: dict[Shape, tuple[dict[str, str], list[str], list[str]]] = {}
_lock = threading.Lock()


def redeem(
    database: Database,
    rows: Rows,
    rule: dict[str, Any],
    idem: Idempotency,
    sealed: str,
    now: datetime,
) -> bool:
    """Claim the voucher and write every row in one statement; False if nothing was written.
    `sealed` is the answer as kept with the key (AnswerSeal)."""
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
                "body": sealed,
                "created_at": now,
            },
        ),
    ]
    sql, parameters = statement(rule, rows)
    try:
        try:
            written = _send(database, sql, parameters)
        except psycopg.OperationalError:
            # A pooled connection the server dropped (a restart, a terminated backend).
            # Once more on a fresh one is safe: had the first try committed, the key's
            # record would refuse the second, and the general path would replay the first.
            written = _send(database, sql, parameters)
    except psycopg.errors.UniqueViolation:
        return False  # the key was used before: the general path replays or refuses
    return written is not None and written[0] == 1


def _send(database: Database, sql: str, parameters: dict[str, Any]) -> tuple[Any, ...] | None:
    """Run the statement in autocommit on a pooled connection; a broken one is discarded."""
    pooled = database.engine.raw_connection()
    connection: psycopg.Connection[tuple[Any, ...]] = pooled.driver_connection  # type: ignore[assignment]
    try:
        connection.autocommit = True
        row = connection.execute(sql, parameters).fetchone()
        connection.autocommit = False
    except psycopg.OperationalError:
        pooled.invalidate()  # never back into the pool, and no clean-up hiding the cause
        raise
    except BaseException:
        if not connection.closed:
            connection.autocommit = False
        raise
    finally:
        pooled.close()
    return row


def statement(rule: dict[str, Any], rows: Rows) -> tuple[str, dict[str, Any]]:
    """The SQL for these rows and their parameters.

    A row value equal to a value already sent (the transfer's id in four rows, the time in
    four, the programme and the partner in three) is sent once: the SQL names the earlier
    parameter. The SQL for each shape of rows and pattern of equal values is compiled on
    first use and kept."""
    shape = tuple([(table, tuple(row)) for table, row in rows])
    rule_slot_types, row_slot_types, names = _slots(shape)
    parameters = dict(rule)
    seen = {(rule_slot_types[name], value): name for name, value in rule.items()}
    aliases = []
    values = chain.from_iterable([row.values() for _, row in rows])
    for kind, name, value in zip(row_slot_types, names, values, strict=True):
        alias = seen.setdefault((kind, value), name)
        if alias is name:
            parameters[name] = value
        aliases.append(alias)
    found = _compiled.get((shape, *aliases))
    if found is None:
        with _lock:
            found = _compiled[(shape, *aliases)] = _compile(shape, aliases)
    sql, constants = found
    return sql, {**constants, **parameters}


def _slots(shape: Shape) -> tuple[dict[str, str], list[str], list[str]]:
    """The SQL type of each parameter (the rule's by name, then each row column's) and the
    row columns' parameter names. Values are shared only between parameters of one type,
    so that each is sent with one type."""
    found = _slot_types.get(shape)
    if found is None:
        binds = claim(by_token=True).compile(dialect=_DIALECT).binds
        rule = {name: type(bind.type).__name__ for name, bind in binds.items()}
        rows = [type(table.c[column].type).__name__ for table, row in shape for column in row]
        found = _slot_types[shape] = (rule, rows, [f"v{number}" for number in range(len(rows))])
    return found


def _compile(shape: Shape, aliases: list[str]) -> tuple[str, dict[str, Any]]:
    claimed = claim(by_token=True).returning(Voucher.id).cte("voucher")
    names = iter(aliases)
    writes = [
        _insert_from(claimed, number, table, columns, [next(names) for _ in columns])
        for number, (table, columns) in enumerate(shape)
    ]
    sql = select(func.count()).select_from(claimed).add_cte(*writes)
    compiled = sql.compile(dialect=_DIALECT)
    constants = {name: value for name, value in compiled.params.items() if value is not None}
    return str(compiled), constants


def _insert_from(
    claimed: CTE, number: int, table: Table, columns: Sequence[str], names: list[str]
) -> CTE:
    values = select(
        *(
            bindparam(name, type_=table.c[column].type)
            for name, column in zip(names, columns, strict=True)
        )
    ).select_from(claimed)
    return insert(table).from_select(list(columns), values).cte(f"w{number}")
