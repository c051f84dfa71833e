"""PostgreSQL's redemption in one statement: the whole transaction in a single round trip.

Everything the redemption writes is computed first (the voucher's id is derived from its
jti, the programme's id from its code), so one statement can flip the voucher with the
conditional UPDATE and, only if it did, claim the Idempotency-Key and insert the transfer,
its posting, its place in the log queue and the redemption. Run in autocommit, that
statement is the transaction. Anything unusual (a voucher that cannot be redeemed, a key
already used) writes nothing and returns None: the general path then answers, refuses or
replays, so every rule keeps a single home.
"""

from __future__ import annotations

import threading
from datetime import datetime

import psycopg

from voucher_service.auth.api import Principal
from voucher_service.context import ServiceContext
from voucher_service.db import Database
from voucher_service.idempotency.api import Idempotency, Outcome, encode_body
from voucher_service.ledger.transfers import transfer_row
from voucher_service.vouchers.redemption import prepare_redemption
from voucher_service.vouchers.tokens import verify_voucher, voucher_id_for

REDEEM = """
WITH voucher AS (
    UPDATE vouchers SET status = 'redeemed', redeemed_at = %(at)s
    WHERE id = %(voucher_id)s AND jti = %(jti)s AND status = 'issued' AND expires_at > %(at)s
      AND value_cents = %(value)s AND program_id = %(program_id)s
      AND EXISTS (SELECT 1 FROM partner_programs
                  WHERE partner_id = %(partner_id)s AND program_id = %(program_id)s)
    RETURNING id
), claim AS (
    INSERT INTO idempotency_records (principal_id, key, fingerprint, status_code, body, created_at)
    SELECT %(principal_id)s, %(key)s, %(fingerprint)s, 201, %(body)s, %(at)s FROM voucher
), transfer AS (
    INSERT INTO ledger_transfers (id, kind, at, program_id, partner_id, entry, leaf_hash)
    SELECT %(transfer_id)s, 'redeem', %(at)s, %(program_id)s, %(partner_id)s, %(entry)s,
           %(leaf_hash)s FROM voucher
), posting AS (
    INSERT INTO ledger_postings (transfer_id, position, source, destination, amount)
    SELECT %(transfer_id)s, 0, %(source)s, %(destination)s, %(value)s FROM voucher
), queued AS (
    INSERT INTO log_queue (transfer_id) SELECT %(transfer_id)s FROM voucher
), redemption AS (
    INSERT INTO redemptions (id, voucher_id, program_id, partner_id, value_cents, service,
                             redeemed_at, transfer_id, leaf_hash, receipt)
    SELECT %(redemption_id)s, voucher.id, %(program_id)s, %(partner_id)s, %(value)s,
           %(service)s, %(at)s, %(transfer_id)s, %(leaf_b64)s, %(receipt)s FROM voucher
)
SELECT count(*) FROM voucher
"""


class ProgramIds:
    """Programme code → id in one database; both are fixed at creation, so an app keeps them."""

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, connection: psycopg.Connection[tuple[object, ...]], code: str) -> str | None:
        found = self._ids.get(code)
        if found is None:
            row = connection.execute("SELECT id FROM programs WHERE code = %s", (code,)).fetchone()
            if row is None:
                return None
            with self._lock:
                found = self._ids[code] = str(row[0])
        return found


def redeem_token(
    database: Database,
    program_ids: ProgramIds,
    ctx: ServiceContext,
    partner: Principal,
    token: str,
    service: str | None,
    idem: Idempotency,
    now: datetime,
) -> Outcome | None:
    """Redeem in one round trip, or None when the general path must answer."""
    assert partner.partner_id is not None
    claims = verify_voucher(token, ctx.keys.voucher, ctx.settings.issuer)
    pooled = database.engine.raw_connection()
    try:
        connection: psycopg.Connection[tuple[object, ...]] = pooled.driver_connection  # type: ignore[assignment]
        connection.autocommit = True
        try:
            program_id = program_ids.get(connection, claims.program_code)
            if program_id is None:
                return None
            return _redeem(connection, ctx, partner, claims.jti, program_id,
                           claims.value_cents, service, idem, now)  # fmt: skip
        finally:
            connection.autocommit = False
    finally:
        pooled.close()


def _redeem(
    connection: psycopg.Connection[tuple[object, ...]],
    ctx: ServiceContext,
    partner: Principal,
    jti: str,
    program_id: str,
    value: int,
    service: str | None,
    idem: Idempotency,
    now: datetime,
) -> Outcome | None:
    assert partner.partner_id is not None
    voucher_id = voucher_id_for(jti)
    made = prepare_redemption(
        ctx, partner.partner_id, voucher_id, program_id, value, jti, service, now
    )
    body = encode_body(made.view)
    posting = made.transfer.entry["postings"][0]
    try:
        row = connection.execute(
            REDEEM,
            {
                **transfer_row(made.transfer),
                "transfer_id": made.transfer.id,
                "voucher_id": voucher_id,
                "jti": jti,
                "value": value,
                "program_id": program_id,
                "partner_id": partner.partner_id,
                "principal_id": idem.principal_id,
                "key": idem.key,
                "fingerprint": idem.fingerprint,
                "body": body,
                "source": posting["source"],
                "destination": posting["destination"],
                "redemption_id": made.row["id"],
                "service": service,
                "leaf_b64": made.transfer.leaf_hash_b64,
                "receipt": made.row["receipt"],
            },
        ).fetchone()
    except psycopg.errors.UniqueViolation:
        return None  # the key was used before: the general path replays or refuses
    if row is None or row[0] != 1:
        return None
    return Outcome(201, body, replayed=False)
