"""Bulk set-up for `make bench`: a programme, a partner and many vouchers, issued for real.

python -m bench.issuance COUNT   # prints {"partner_key": ..., "tokens": [...]}
"""

from __future__ import annotations

import json
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

from voucher_service.auth.api import Principal, create_api_key
from voucher_service.clock import now
from voucher_service.config import Settings
from voucher_service.context import ServiceContext
from voucher_service.db import Database
from voucher_service.idempotency.api import Idempotency
from voucher_service.organisations.api import OrganisationInput, create_organisation
from voucher_service.partners.api import PartnerInput, create_partner
from voucher_service.programs.api import ProgramInput, create_program
from voucher_service.vouchers.issuance import issue_booklet

BOOKLET = 50


def issue_bench_vouchers(count: int) -> dict[str, Any]:
    """Issue `count` vouchers through the real use cases; return their tokens and a partner key."""
    settings = Settings.from_env()
    ctx = ServiceContext.from_settings(settings)
    database = Database(settings.database_url)
    moment = now()
    program = create_program(database, _bench_program(count), moment)
    programs = [program["id"]]
    organisation = create_organisation(
        database, OrganisationInput("Bench CCAS", "ccas", programs), moment
    )
    partner = create_partner(
        database,
        PartnerInput("73282932000074", "Bench venue", "1 rue", "87000", 45.8, 1.2, [], programs),
        moment,
    )
    issuer_key = create_api_key(database, "issuer", moment, organisation_id=organisation["id"])
    issuer = Principal(issuer_key["id"], "issuer", organisation["id"])
    partner_key = create_api_key(database, "partner", moment, partner_id=partner["id"])["key"]
    tokens: list[str] = []
    for start in range(0, count, BOOKLET):
        outcome = issue_booklet(
            database,
            ctx,
            issuer,
            program["id"],
            f"bench-{start}",
            min(BOOKLET, count - start),
            Idempotency(issuer.id, uuid.uuid4().hex, uuid.uuid4().hex),
            now(),
        )
        tokens += [voucher["token"] for voucher in json.loads(outcome.body)["vouchers"]]
    database.dispose()
    return {"partner_key": partner_key, "tokens": tokens}


def _bench_program(count: int) -> ProgramInput:
    return ProgramInput(
        code="BENCH",
        name="Bench programme",
        funder="Bench funder",
        budget_cents=count * 1000,
        face_value_cents=1000,
        currency="EUR",
        booklet_size=BOOKLET,
        valid_from=datetime(2026, 1, 1, tzinfo=UTC),
        valid_until=datetime(2100, 1, 1, tzinfo=UTC),
        voucher_validity_days=365,
        max_vouchers_per_beneficiary=BOOKLET,
        territory=["87"],
    )


if __name__ == "__main__":
    print(json.dumps(issue_bench_vouchers(int(sys.argv[1]))))
