"""The demo: the Haute-Vienne programme, a CCAS that distributes it and venues that accept it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from voucher_service.auth.api import Principal, add_api_key
from voucher_service.clock import month_bounds, month_of
from voucher_service.context import ServiceContext
from voucher_service.db import Database
from voucher_service.idempotency.api import Idempotency
from voucher_service.organisations.api import OrganisationInput, add_organisation
from voucher_service.organisations.models import Organisation
from voucher_service.partners.api import PartnerInput, add_partner, set_bank_account
from voucher_service.partners.models import Partner
from voucher_service.programs.api import ProgramInput, add_program
from voucher_service.programs.models import Program
from voucher_service.settlements.payment import set_debtor_account
from voucher_service.vouchers.issuance import issue_booklet
from voucher_service.vouchers.redemption import redeem

DEMO_PROGRAM_CODE = "HV87"
DEMO_ORGANISATION = "CCAS de Limoges"

DEMO_PARTNERS = [
    # SIRETs chosen with a valid Luhn checksum; places in and around Limoges.
    ("12345678900015", "Tiers-lieu Le Garage numérique", "12 rue de la Boucherie, Limoges",
     "87000", 45.8298, 1.2589, ["atelier-smartphone", "demarches-en-ligne"]),
    ("73282932000074", "Médiathèque francophone", "2 place Aimé Césaire, Limoges",
     "87000", 45.8336, 1.2532, ["atelier-ordinateur", "demarches-en-ligne"]),
    ("44306184100047", "Association Clic Saint-Junien", "5 avenue Henri Barbusse, Saint-Junien",
     "87200", 45.8876, 0.9016, ["atelier-smartphone"]),
]  # fmt: skip

# The demo's bank accounts: well-formed IBANs (their check digits hold), nobody's account.
DEMO_FUNDER_ACCOUNT = ("Département de la Haute-Vienne", "FR7610107001011234567890129", "BREDFRPP")
DEMO_PARTNER_ACCOUNTS = {
    "12345678900015": ("Le Garage numérique", "FR7630006000011234567890189", "AGRIFRPP"),
    "73282932000074": ("Médiathèque francophone", "FR7630004000031234567890143", "BNPAFRPP"),
}
# Last month, seen from the demo's first run: a booklet handed out, vouchers used at two
# venues, so that a month is there to settle, pay and report on.
HISTORY = "demo history"  # the label of the keys the history was written with
DEMO_HISTORY = [  # (venue's SIRET, day of last month, service)
    ("12345678900015", 6, "atelier-smartphone"),
    ("12345678900015", 13, "atelier-smartphone"),
    ("73282932000074", 14, "demarches-en-ligne"),
    ("73282932000074", 20, "atelier-ordinateur"),
]


@dataclass(frozen=True)
class Demo:
    program: Program
    organisation: Organisation
    partner: Partner
    created: bool  # seeded by this run: its history is to be written


@dataclass(frozen=True)
class DemoAccess:
    """What `voucher-service demo` prints: the demo programme and a fresh key per role."""

    program_id: str
    keys: dict[str, str]


def set_up_demo(database: Database, ctx: ServiceContext, now: datetime) -> DemoAccess:
    """Seed the demo if it is not there yet and mint its keys, in one transaction; the first
    time, give it last month's history too."""
    with database.atomic() as session:
        demo = seed_demo(session, now)
        access = DemoAccess(demo.program.id, mint_demo_keys(session, demo, now))
        ids = (demo.program.id, demo.organisation.id)
    if demo.created:
        add_history(database, ctx, *ids, now)
    return access


def add_history(
    database: Database, ctx: ServiceContext, program_id: str, organisation_id: str, now: datetime
) -> None:
    """Last month of the demo, written by the use cases at last month's dates: bank accounts,
    one booklet handed out on its 3rd, four of its vouchers redeemed at two venues."""
    set_debtor_account(database, program_id, *DEMO_FUNDER_ACCOUNT)
    with database.atomic() as session:
        issuer, _ = add_api_key(session, "issuer", now, organisation_id, label=HISTORY)
        principals: dict[str, Principal] = {}
        for siret, venue_id in session.execute(select(Partner.siret, Partner.id)):
            key, _ = add_api_key(session, "partner", now, partner_id=venue_id, label=HISTORY)
            principals[siret] = Principal(key.id, "partner", partner_id=venue_id)
    for siret, (holder, iban, bic) in DEMO_PARTNER_ACCOUNTS.items():
        set_bank_account(database, str(principals[siret].partner_id), holder, iban, bic)
    last_month = month_of(month_bounds(month_of(now))[0] - timedelta(days=1))
    start = month_bounds(last_month)[0]
    booklet = issue_booklet(
        database,
        ctx,
        Principal(issuer.id, "issuer", organisation_id),
        program_id,
        "demo-2026-0001",
        None,
        _once(issuer.id),
        start + timedelta(days=2, hours=9),
    )
    tokens = [voucher["token"] for voucher in json.loads(booklet.body)["vouchers"]]
    for (siret, day, service), token in zip(DEMO_HISTORY, tokens, strict=False):
        partner = principals[siret]
        at = start + timedelta(days=day - 1, hours=10)
        redeem(database, ctx, partner, token, None, service, _once(partner.id), at)


def _once(principal_id: str) -> Idempotency:
    return Idempotency(principal_id, uuid.uuid4().hex, uuid.uuid4().hex)


def seed_demo(session: Session, now: datetime) -> Demo:
    """Create the demo once; later runs find it."""
    program = session.scalar(select(Program).where(Program.code == DEMO_PROGRAM_CODE))
    created = program is None
    if program is None:
        program = add_program(
            session,
            ProgramInput(
                code=DEMO_PROGRAM_CODE,
                name="Pass Numérique Haute-Vienne",
                funder="Département de la Haute-Vienne",
                budget_cents=50_000_000,
                face_value_cents=1000,
                currency="EUR",
                booklet_size=10,
                valid_from=datetime(2026, 1, 1, tzinfo=UTC),
                valid_until=datetime(2028, 1, 1, tzinfo=UTC),
                voucher_validity_days=365,
                max_vouchers_per_beneficiary=20,
                territory=["87"],
            ),
            now,
        )
    organisation = session.scalar(
        select(Organisation).where(Organisation.name == DEMO_ORGANISATION)
    )
    if organisation is None:
        organisation = add_organisation(
            session, OrganisationInput(DEMO_ORGANISATION, "ccas", [program.id]), now
        )
    for siret, name, address, postcode, lat, lon, services in DEMO_PARTNERS:
        if session.scalar(select(Partner.id).where(Partner.siret == siret)) is None:
            add_partner(
                session,
                PartnerInput(siret, name, address, postcode, lat, lon, services, [program.id]),
                now,
            )
    first = session.scalar(select(Partner).where(Partner.siret == DEMO_PARTNERS[0][0]))
    assert first is not None
    return Demo(program, organisation, first, created)


def mint_demo_keys(session: Session, demo: Demo, now: datetime) -> dict[str, str]:
    """One fresh key per role (keys are shown once; earlier ones stay valid)."""
    keys = {}
    for role in ("admin", "issuer", "partner", "auditor"):
        _, plain = add_api_key(
            session,
            role,
            now,
            organisation_id=demo.organisation.id if role == "issuer" else None,
            partner_id=demo.partner.id if role == "partner" else None,
            label=f"demo {role}",
        )
        keys[role] = plain
    return keys
