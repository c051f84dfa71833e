"""A programme's Token Status List (draft-ietf-oauth-status-list): read, packed, signed.

Two bits a voucher, at the index its token carries as `s`: 0 valid (`issued`), 1 invalid
(`cancelled`, `expired`), 2 suspended (`printed`, not yet handed out), 3 redeemed. The list is
read from the vouchers' own status, so that no redemption writes anything more for it.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from voucher_service.keys import SigningKey, b64url
from voucher_service.programs.models import Program
from voucher_service.vouchers.models import CANCELLED, EXPIRED, ISSUED, PRINTED, REDEEMED, Voucher

MEDIA_TYPE = "application/statuslist+jwt"
BITS = 2
VALID, INVALID, SUSPENDED, REDEEMED_VALUE = 0, 1, 2, 3
STATUS_VALUES = {
    ISSUED: VALID,
    CANCELLED: INVALID,
    EXPIRED: INVALID,
    PRINTED: SUSPENDED,
    REDEEMED: REDEEMED_VALUE,
}
# A status this module does not know yet is told invalid: a scanner that refuses a voucher it
# should have taken is a nuisance; one that takes a voucher it should have refused pays twice.
UNKNOWN_STATUS_VALUE = INVALID
TTL_SECONDS = 300  # how long a scanner may keep the list before it asks again
VALIDITY_SECONDS = 24 * 3600  # the list's `exp`: an offline scanner knows when it is stale


@dataclass(frozen=True)
class PackedList:
    """The list's bytes (four vouchers a byte, the lowest bits first), its size in entries."""

    capacity: int
    data: bytes

    @property
    def digest(self) -> str:
        return b64url(hashlib.sha256(self.data).digest())[:27]


def read_list(session: Session, program_id: str) -> PackedList:
    """The programme's list as its vouchers' statuses say now.

    Only the vouchers that are not `issued` are read (0, the default, is `issued`). The
    capacity is read after them: it only grows, in the transaction that inserts a voucher of
    a larger index, so it covers every voucher the first query saw."""
    rows = driver_rows(
        session,
        select(Voucher.status_index, Voucher.status).where(
            Voucher.program_id == program_id, Voucher.status != ISSUED
        ),
    )
    capacity = session.scalar(select(Program.status_list_capacity).where(Program.id == program_id))
    assert capacity is not None  # the vouchers' foreign key
    return pack(capacity, rows)


def driver_rows(session: Session, statement: ClauseElement) -> list[Any]:
    """The statement's rows as the database driver gives them (plain tuples), in the session's
    transaction. A list of a million vouchers has some 400,000 rows to read; making them
    SQLAlchemy rows would take twice as long as the query itself (bench/status_list.py)."""
    connection = session.connection()
    compiled = statement.compile(dialect=connection.dialect)
    assert isinstance(compiled, SQLCompiler)
    params = compiled.params
    cursor = connection.connection.cursor()
    try:
        if compiled.positional:  # SQLite's qmark; psycopg takes the names
            cursor.execute(
                str(compiled), tuple(params[name] for name in compiled.positiontup or ())
            )
        else:
            cursor.execute(str(compiled), params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def pack(capacity: int, statuses: Iterable[tuple[int, str]]) -> PackedList:
    """Index i's two bits are bits 2(i mod 4) and 2(i mod 4)+1 of byte i div 4 (the draft's
    least significant bits first)."""
    data = bytearray(-(-capacity // 4))
    for index, status in statuses:
        value = STATUS_VALUES.get(status, UNKNOWN_STATUS_VALUE)
        data[index >> 2] |= value << ((index & 3) << 1)
    return PackedList(capacity, bytes(data))


def encode_lst(packed: PackedList) -> str:
    """The `lst` claim: ZLIB (RFC 1950) at its best compression, then base64url unpadded."""
    return b64url(zlib.compress(packed.data, 9))


def sign_list(key: SigningKey, subject: str, lst: str, now: datetime) -> str:
    """The Status List Token: ES256 under a key of the JWKS, typed `statuslist+jwt`."""
    issued = int(now.timestamp())
    claims = {
        "sub": subject,
        "iat": issued,
        "exp": issued + VALIDITY_SECONDS,
        "ttl": TTL_SECONDS,
        "status_list": {"bits": BITS, "lst": lst},
    }
    return jwt.encode(
        claims,
        key.private_key,
        algorithm="ES256",
        headers={"kid": key.kid, "typ": "statuslist+jwt"},
    )
