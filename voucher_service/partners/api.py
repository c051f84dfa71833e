"""Use cases of partners: qualify a venue, affiliate it, keep it up to date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from voucher_service.auth.api import Principal
from voucher_service.clock import rfc3339
from voucher_service.db import Database
from voucher_service.errors import Conflict, InvalidRequest, NotFound
from voucher_service.organisations.api import ensure_programs_exist
from voucher_service.partners.directory import public_fields
from voucher_service.partners.models import Partner, partner_programs
from voucher_service.partners.opening_hours import OpeningHours, check_opening_hours
from voucher_service.partners.siret import is_valid_siret
from voucher_service.settlements.bank import account_view, checked_account

# What `PATCH /v1/partners/{id}` may change on the venue itself (`programs` aside).
CHANGEABLE = ("name", "address", "postcode", "latitude", "longitude", "services", "opening_hours")


@dataclass(frozen=True)
class PartnerInput:
    siret: str
    name: str
    address: str
    postcode: str
    latitude: float
    longitude: float
    services: list[str]
    programs: list[str]
    opening_hours: OpeningHours | None = None

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> PartnerInput:
        """The venue a body checked against `partner-create.request` describes."""
        return cls(**{"programs": [], **body})


def create_partner(database: Database, data: PartnerInput, now: datetime) -> dict[str, Any]:
    """A qualified venue, affiliated to its programmes, as the API shows it."""
    with database.atomic() as session:
        partner = add_partner(session, data, now)
        return partner_view(partner, partner_program_ids(session, partner.id))


def get_partner(database: Database, principal: Principal, partner_id: str) -> dict[str, Any]:
    """A venue with its SIRET and programmes: for the admin, and for the venue itself (to
    another partner, not found)."""
    with database.read() as session:
        partner = session.get(Partner, partner_id)
        if partner is None or (principal.role == "partner" and principal.partner_id != partner.id):
            raise NotFound(f"no partner {partner_id}")
        return partner_view(partner, partner_program_ids(session, partner.id))


def update_partner(database: Database, partner_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """The venue with what `changes` (checked against `partner-update.request`) names replaced;
    `programs` replaces its affiliations. The SIRET never changes."""
    check_opening_hours(changes.get("opening_hours"))
    with database.atomic() as session:
        # Locked: two changes of one venue's programmes do not interleave.
        partner = session.get(Partner, partner_id, with_for_update=True)
        if partner is None:
            raise NotFound(f"no partner {partner_id}")
        for field in CHANGEABLE:
            if field in changes:
                setattr(partner, field, changes[field])
        if "programs" in changes:
            replace_programs(session, partner.id, changes["programs"])
        session.flush()
        return partner_view(partner, partner_program_ids(session, partner.id))


def set_bank_account(
    database: Database, partner_id: str, holder: str, iban: str, bic: str
) -> dict[str, Any]:
    """Where the venue's statements are paid from now on (a payment file already made keeps
    the account it named). The answer shows the IBAN masked, as every later read does."""
    account = checked_account(holder, iban, bic)
    with database.atomic() as session:
        partner = session.get(Partner, partner_id, with_for_update=True)
        if partner is None:
            raise NotFound(f"no partner {partner_id}")
        partner.bank_holder, partner.bank_iban, partner.bank_bic = (
            account.holder,
            account.iban,
            account.bic,
        )
        session.flush()
        view = bank_account_view(partner)
        assert view is not None
        return {"partner_id": partner.id, **view}


def bank_account_view(partner: Partner) -> dict[str, Any] | None:
    """The venue's bank account, its IBAN masked; None when it has given none."""
    return account_view(partner.bank_holder, partner.bank_iban, partner.bank_bic)


def add_partner(session: Session, data: PartnerInput, now: datetime) -> Partner:
    if not is_valid_siret(data.siret):
        raise InvalidRequest(
            "invalid SIRET",
            [{"path": "/siret", "message": "a SIRET is 14 digits with a valid Luhn checksum"}],
        )
    check_opening_hours(data.opening_hours)
    if session.scalar(select(Partner.id).where(Partner.siret == data.siret)) is not None:
        raise Conflict(f"a partner with SIRET {data.siret} exists already")
    ensure_programs_exist(session, data.programs)
    fields = {k: v for k, v in data.__dict__.items() if k != "programs"}
    partner = Partner(**fields, created_at=now)
    session.add(partner)
    try:
        session.flush()
    except IntegrityError:  # another request qualified the same SIRET a moment ago
        raise Conflict(f"a partner with SIRET {data.siret} exists already") from None
    if data.programs:
        session.execute(
            insert(partner_programs),
            [{"partner_id": partner.id, "program_id": p} for p in set(data.programs)],
        )
    return partner


def replace_programs(session: Session, partner_id: str, program_ids: list[str]) -> None:
    """The venue is affiliated to these programmes and no others."""
    ensure_programs_exist(session, program_ids)
    wanted = set(program_ids)
    session.execute(
        delete(partner_programs).where(
            partner_programs.c.partner_id == partner_id,
            partner_programs.c.program_id.not_in(wanted),
        )
    )
    missing = wanted - set(partner_program_ids(session, partner_id))
    if missing:
        session.execute(
            insert(partner_programs),
            [{"partner_id": partner_id, "program_id": p} for p in sorted(missing)],
        )


def partner_program_ids(session: Session, partner_id: str) -> list[str]:
    return sorted(
        session.scalars(
            select(partner_programs.c.program_id).where(partner_programs.c.partner_id == partner_id)
        )
    )


def partner_view(partner: Partner, programs: list[str]) -> dict[str, Any]:
    return {
        **public_fields(partner),
        "siret": partner.siret,
        "programs": programs,
        "created_at": rfc3339(partner.created_at),
    }
