"""The time to settle a month of BENCH_SETTLEMENT_REDEMPTIONS redemptions (100,000 by default)
on PostgreSQL, then to make its payment file, run it again (nothing new) and draw the largest
statement; as JSON.

python -m bench.settlement

A throwaway database is migrated; a programme, its partners (each with a bank account) and the
funder's debtor account are made through the use cases; then the month's vouchers and
redemptions are bulk-loaded with COPY (1 % of them reversed), as the redemption path leaves
them. Only their ledger entries are left out: the settlement's own transfers are written, so
its payables go negative in this throwaway ledger, which nothing reads.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from schwifty import IBAN

from bench.redemption import fresh_database
from voucher_service.auth.api import Principal
from voucher_service.clock import month_bounds, parse_month
from voucher_service.config import Settings
from voucher_service.context import ServiceContext
from voucher_service.db import Database
from voucher_service.idempotency.api import Idempotency
from voucher_service.migrate import upgrade
from voucher_service.organisations.api import OrganisationInput, create_organisation
from voucher_service.partners.api import PartnerInput, create_partner, set_bank_account
from voucher_service.programs.api import ProgramInput, create_program
from voucher_service.settlements import api, payment, statements

COUNT = int(os.environ.get("BENCH_SETTLEMENT_REDEMPTIONS", "100000"))
PARTNERS = int(os.environ.get("BENCH_SETTLEMENT_PARTNERS", "40"))
MONTH = "2026-11"
SETTLED_AT = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
VALUE = 1000
SERVICES = ("atelier-ordinateur", "atelier-smartphone", "demarches-en-ligne", None)


def siret(n: int) -> str:
    """A valid SIRET (Luhn) for the n-th bench venue."""
    stem = f"{900_000_000 + n:09d}0000"
    for last in "0123456789":
        digits = [int(c) for c in stem + last]
        total = sum(
            d if i % 2 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits)
        )
        if total % 10 == 0:
            return stem + last
    raise AssertionError("a check digit always exists")


def seed(database: Database, dsn: str) -> tuple[str, list[str]]:
    """The programme and its venues (with bank accounts), and the month's redemptions."""
    moment = datetime(2026, 10, 1, tzinfo=UTC)
    program = create_program(
        database,
        ProgramInput(
            code="BSET",
            name="Pass Numérique Haute-Vienne",
            funder="Département de la Haute-Vienne",
            budget_cents=COUNT * VALUE * 2,
            face_value_cents=VALUE,
            currency="EUR",
            booklet_size=10,
            valid_from=datetime(2026, 1, 1, tzinfo=UTC),
            valid_until=datetime(2030, 1, 1, tzinfo=UTC),
            voucher_validity_days=365,
            max_vouchers_per_beneficiary=COUNT,
            territory=["87"],
        ),
        moment,
    )["id"]
    organisation = create_organisation(
        database, OrganisationInput("Bench CCAS", "ccas", [program]), moment
    )["id"]
    partners = []
    for n in range(PARTNERS):
        made = create_partner(
            database,
            PartnerInput(siret(n), f"Lieu {n}", "1 rue", "87000", 45.8, 1.2, [], [program]),
            moment,
        )
        iban = IBAN.generate("FR", bank_code="30006", branch_code="00001", account_code=f"{n:011d}")
        set_bank_account(database, made["id"], f"Lieu {n}", iban.compact, "AGRIFRPPXXX")
        partners.append(made["id"])
    payment.set_debtor_account(
        database, program, "Département de la Haute-Vienne", "FR7630006000011234567890189",
        "AGRIFRPPXXX",
    )  # fmt: skip
    load_redemptions(dsn, program, organisation, partners)
    return program, partners


def load_redemptions(dsn: str, program: str, organisation: str, partners: list[str]) -> None:
    """COPY a booklet a thousand vouchers, every voucher redeemed once in the month."""
    start, end = month_bounds(parse_month(MONTH, "/period"))
    span = (end - start).total_seconds()
    rng = random.Random(7)
    issued = start - timedelta(days=20)
    with psycopg.connect(dsn) as connection, connection.cursor() as cursor:
        booklets = [str(uuid.uuid4()) for _ in range(-(-COUNT // 1000))]
        with cursor.copy(
            "COPY booklets (id, program_id, organisation_id, beneficiary_hash, size, issued_at, "
            "issued_by, transfer_id) FROM STDIN"
        ) as copy:
            for booklet in booklets:
                copy.write_row(
                    (booklet, program, organisation, "b" * 64, 1000, issued, "bench", booklet)
                )
        vouchers = [str(uuid.uuid4()) for _ in range(COUNT)]
        moments = [start + timedelta(seconds=rng.random() * span) for _ in range(COUNT)]
        # A voucher's index in its programme's status list, where the schema has one.
        indexed = cursor.execute(
            "SELECT 1 FROM information_schema.columns "
            "WHERE table_name = 'vouchers' AND column_name = 'status_index'"
        ).fetchone()
        with cursor.copy(
            "COPY vouchers (id, jti, code_hash, booklet_id, program_id, position, value_cents, "
            f"status, kid, issued_at, expires_at, redeemed_at{', status_index' if indexed else ''})"
            " FROM STDIN"
        ) as copy:
            for i, voucher in enumerate(vouchers):
                copy.write_row(
                    (
                        voucher, voucher.replace("-", ""),
                        hashlib.sha256(voucher.encode()).hexdigest(), booklets[i // 1000],
                        program, i % 1000 + 1, VALUE, "redeemed", "bench", issued,
                        issued + timedelta(days=365), moments[i], *((i,) if indexed else ()),
                    )
                )  # fmt: skip
        with cursor.copy(
            "COPY redemptions (id, voucher_id, program_id, partner_id, value_cents, service, "
            "redeemed_at, transfer_id, leaf_hash, receipt, reversed_at) FROM STDIN"
        ) as copy:
            for i, voucher in enumerate(vouchers):
                reversed_at = moments[i] + timedelta(minutes=5) if i % 100 == 0 else None
                copy.write_row(
                    (
                        str(uuid.uuid4()), voucher, program, partners[i % len(partners)], VALUE,
                        SERVICES[i % len(SERVICES)], moments[i], voucher, "h" * 44, "r",
                        reversed_at,
                    )
                )  # fmt: skip
        cursor.execute("ANALYZE")


def run() -> dict[str, Any]:
    dsn = fresh_database("vs_bench_settlement")
    with tempfile.TemporaryDirectory() as keys:
        settings = Settings(database_url=dsn, keys_dir=Path(keys), run_sequencer=False)
        ctx = ServiceContext.from_settings(settings)
        database = Database(dsn)
        upgrade(database)
        program, partners = seed(database, dsn)
        admin = Principal("bench-admin", "admin")
        month = parse_month(MONTH, "/period")

        def settle() -> tuple[dict[str, Any], float]:
            started = time.perf_counter()
            outcome = api.settle_month(
                database, ctx, admin, program, month,
                Idempotency(admin.id, uuid.uuid4().hex, uuid.uuid4().hex), SETTLED_AT,
            )  # fmt: skip
            return json.loads(outcome.body), time.perf_counter() - started

        settled, settle_s = settle()
        started = time.perf_counter()
        content = payment.payment_file(database, settled["id"], SETTLED_AT)
        file_s = time.perf_counter() - started
        started = time.perf_counter()
        again = payment.payment_file(database, settled["id"], SETTLED_AT)
        stored_s = time.perf_counter() - started
        assert again == content
        second, second_s = settle()
        biggest = max(settled["statements"], key=lambda s: s["count"])
        started = time.perf_counter()
        document = statements.read_statement(database, admin, settled["id"], biggest["partner_id"])
        pdf = statements.statement_pdf(document)
        pdf_s = time.perf_counter() - started
        database.dispose()
    with psycopg.connect(dsn.replace("+psycopg", "")) as connection:
        lines = connection.execute("SELECT count(*) FROM settlement_lines").fetchone()
    return {
        "redemptions_in_month": COUNT,
        "reversed": -(-COUNT // 100),
        "partners": len(partners),
        "settle": {
            "seconds": round(settle_s, 2),
            "redemptions_settled": sum(s["count"] for s in settled["statements"]),
            "lines_in_database": lines[0] if lines else None,
            "redemptions_per_s": round(sum(s["count"] for s in settled["statements"]) / settle_s),
            "total_cents": settled["total_cents"],
        },
        "second_run": {
            "seconds": round(second_s, 2),
            "statements": len(second["statements"]),
        },
        "payment_file": {
            "seconds_first": round(file_s, 3),
            "seconds_stored": round(stored_s, 4),
            "transactions": len(settled["statements"]),
            "bytes": len(content),
        },
        "largest_statement_pdf": {
            "lines": biggest["count"],
            "seconds": round(pdf_s, 2),
            "bytes": len(pdf),
        },
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
