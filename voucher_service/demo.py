"""The demo: the Haute-Vienne programme, a CCAS that distributes it and venues that accept it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from voucher_service.auth.api import add_api_key
from voucher_service.db import Database
from voucher_service.organisations.api import OrganisationInput, add_organisation
from voucher_service.organisations.models import Organisation
from voucher_service.partners.api import PartnerInput, add_partner
from voucher_service.partners.models import Partner
from voucher_service.programs.api import ProgramInput, add_program
from voucher_service.programs.models import Program

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


@dataclass(frozen=True)
class Demo:
    program: Program
    organisation: Organisation
    partner: Partner


@dataclass(frozen=True)
class DemoAccess:
    """What `voucher-service demo` prints: the demo programme and a fresh key per role."""

    program_id: str
    keys: dict[str, str]


def set_up_demo(database: Database, now: datetime) -> DemoAccess:
    """Seed the demo if it is not there yet and mint its keys, in one transaction."""
    with database.atomic() as session:
        demo = seed_demo(session, now)
        return DemoAccess(demo.program.id, mint_demo_keys(session, demo, now))


def seed_demo(session: Session, now: datetime) -> Demo:
    """Create the demo once; later runs find it."""
    program = session.scalar(select(Program).where(Program.code == DEMO_PROGRAM_CODE))
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
    return Demo(program, organisation, first)


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
