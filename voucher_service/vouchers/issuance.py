"""Issuing a booklet: budget and per-beneficiary cap checked, vouchers signed, money moved."""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from voucher_service.auth.api import Principal
from voucher_service.clock import rfc3339
from voucher_service.context import ServiceContext
from voucher_service.db import Database, new_id
from voucher_service.errors import (
    BeneficiaryLimitReached,
    BudgetExhausted,
    Forbidden,
    InvalidRequest,
    NotFound,
    ProgramNotActive,
)
from voucher_service.idempotency.api import Idempotency, Outcome, run_once_in
from voucher_service.ledger import kinds
from voucher_service.ledger.writes import write_transfer
from voucher_service.organisations.models import organisation_programs
from voucher_service.programs.figures import available_cents
from voucher_service.programs.models import Program
from voucher_service.statuslists.allocation import allocate_indices
from voucher_service.vouchers.codes import code_hash, derive_code, format_code
from voucher_service.vouchers.models import (
    CANCELLED,
    ISSUED,
    NO_BENEFICIARY,
    PRINTED,
    Booklet,
    Voucher,
)
from voucher_service.vouchers.tokens import new_jti, sign_voucher, voucher_id_for


def beneficiary_hash(secret: bytes, organisation_id: str, beneficiary_ref: str) -> str:
    """A keyed hash of the issuer's case reference, scoped to its organisation's references."""
    reference = normalise_reference(beneficiary_ref)
    message = b"beneficiary\x00" + organisation_id.encode() + b"\x00" + reference.encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def normalise_reference(reference: str) -> str:
    """One spelling per case reference, so that the cap cannot be dodged by writing it
    otherwise: compatibility forms folded (NFKC), invisible characters dropped, every dash
    a hyphen-minus, white space trimmed and collapsed, case folded."""
    folded = unicodedata.normalize("NFKC", reference)
    kept = []
    for char in folded:
        category = unicodedata.category(char)
        if category == "Cf":
            continue  # zero-width spaces and joiners, soft hyphens, direction marks
        kept.append("-" if category == "Pd" else " " if char.isspace() else char)
    return " ".join("".join(kept).split()).casefold()


def issue_booklet(
    database: Database,
    ctx: ServiceContext,
    issuer: Principal,
    program_id: str,
    beneficiary_ref: str,
    size: int | None,
    idem: Idempotency,
    now: datetime,
) -> Outcome:
    """Issue a booklet, or refuse it whole: a refused booklet issues nothing."""
    return run_once_in(
        database,
        idem,
        ctx.answers,
        now,
        201,
        lambda session: _issue(session, ctx, issuer, program_id, beneficiary_ref, size, now),
    )


def _issue(
    session: Session,
    ctx: ServiceContext,
    issuer: Principal,
    program_id: str,
    beneficiary_ref: str,
    size: int | None,
    now: datetime,
) -> dict[str, Any]:
    assert issuer.organisation_id is not None
    program, size = program_to_issue(session, issuer.organisation_id, program_id, size, now)
    owner = beneficiary_hash(ctx.keys.secret, issuer.organisation_id, beneficiary_ref)
    ensure_beneficiary_cap(session, program, owner, size)
    return write_booklet(session, ctx, issuer, program, size, now, owner=owner)


def program_to_issue(
    session: Session,
    organisation_id: str,
    program_id: str,
    size: int | None,
    now: datetime,
    booklets: int = 1,
) -> tuple[Program, int]:
    """The programme, locked, and the booklets' size (its own if None), once the rules of
    issuing hold: the organisation distributes it, it issues now, the size fits it and its
    budget covers that many booklets."""
    program = lock_program(session, program_id)
    ensure_organisation_distributes(session, organisation_id, program.id)
    ensure_program_active(program, now)
    size = program.booklet_size if size is None else size
    ensure_booklet_size(program, size)
    ensure_budget(session, program, booklets * size * program.face_value_cents)
    return program, size


def lock_program(session: Session, program_id: str) -> Program:
    """Issuance serialises per programme (the budget is checked then spent)."""
    program = session.scalar(select(Program).where(Program.id == program_id).with_for_update())
    if program is None:
        raise NotFound(f"no programme {program_id}")
    return program


def ensure_organisation_distributes(
    session: Session, organisation_id: str, program_id: str
) -> None:
    distributes = session.scalar(
        select(organisation_programs.c.program_id).where(
            organisation_programs.c.organisation_id == organisation_id,
            organisation_programs.c.program_id == program_id,
        )
    )
    if distributes is None:
        raise Forbidden("your organisation does not distribute this programme")


def ensure_program_active(program: Program, now: datetime) -> None:
    if not program.valid_from <= now < program.valid_until:
        raise ProgramNotActive(
            f"programme {program.code} issues from {rfc3339(program.valid_from)} "
            f"until {rfc3339(program.valid_until)}"
        )


def ensure_booklet_size(program: Program, size: int) -> None:
    if not 1 <= size <= program.booklet_size:
        raise InvalidRequest(
            "booklet size out of range",
            [{"path": "/size", "message": f"between 1 and {program.booklet_size}"}],
        )


def ensure_budget(session: Session, program: Program, amount: int) -> None:
    """The programme's available balance covers the booklet (read under the programme's lock)."""
    available = available_cents(session, program.id)
    if amount > available:
        raise BudgetExhausted(
            f"these vouchers need {amount} cents and the programme has {available} left",
            available_cents=available,
        )


def ensure_beneficiary_cap(session: Session, program: Program, owner: str, size: int) -> None:
    held = session.scalar(
        select(func.count(Voucher.id))
        .join(Booklet, Voucher.booklet_id == Booklet.id)
        .where(Booklet.program_id == program.id, Booklet.beneficiary_hash == owner)
        .where(Voucher.status != CANCELLED)
    )
    allowed = program.max_vouchers_per_beneficiary - int(held or 0)
    if size > allowed:
        raise BeneficiaryLimitReached(
            f"this beneficiary may receive {max(allowed, 0)} more vouchers of this programme",
            remaining=max(allowed, 0),
        )


def write_booklet(
    session: Session,
    ctx: ServiceContext,
    issuer: Principal,
    program: Program,
    size: int,
    now: datetime,
    *,
    owner: str | None = None,
    batch_id: str | None = None,
) -> dict[str, Any]:
    """Mint a booklet's vouchers and write them, with the booklet and the issue transfer that
    moves their value from available to outstanding; the answer shows what to print.

    Issued to the beneficiary whose keyed hash is `owner`; or, with `batch_id` and no owner,
    pre-printed: its vouchers are `printed` until the booklet's activation. Either way their
    expiry is fixed now (their tokens carry it, signed)."""
    assert issuer.organisation_id is not None
    assert (owner is None) != (batch_id is None)
    booklet_id, transfer_id = new_id(), new_id()
    status = ISSUED if batch_id is None else PRINTED
    rows, shown = _mint_vouchers(session, ctx, program, booklet_id, size, status, now)
    session.add(
        Booklet(
            id=booklet_id,
            program_id=program.id,
            organisation_id=issuer.organisation_id,
            beneficiary_hash=NO_BENEFICIARY if owner is None else owner,
            size=size,
            issued_at=now,
            issued_by=issuer.id,
            transfer_id=transfer_id,
            batch_id=batch_id,
        )
    )
    session.flush()
    session.execute(insert(Voucher), rows)
    transfer = write_transfer(
        session,
        kinds.issue(
            now,
            program.id,
            booklet_id,
            [str(row["id"]) for row in rows],
            size * program.face_value_cents,
            transfer_id,
            batch_id=batch_id,
            organisation_id=issuer.organisation_id,
        ),
    )
    return {
        "id": booklet_id,
        "program_id": program.id,
        "organisation_id": issuer.organisation_id,
        "issued_at": rfc3339(now),
        "vouchers": shown,
        "ledger_entry": transfer.reference(),
    }


def _mint_vouchers(
    session: Session,
    ctx: ServiceContext,
    program: Program,
    booklet_id: str,
    size: int,
    status: str,
    now: datetime,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The booklet's vouchers: their rows, and what the answer shows of each (its code and
    signed token, shown this once). Each takes a random index of the programme's status list
    (the caller holds the programme's lock), which its token carries as `s`."""
    expires_at = now.replace(microsecond=0) + timedelta(days=program.voucher_validity_days)
    key, secret = ctx.keys.voucher.current, ctx.keys.secret
    indices = allocate_indices(session, program, size)
    rows, shown = [], []
    for position, status_index in enumerate(indices, start=1):
        jti = new_jti()
        voucher_id = voucher_id_for(jti)
        code = derive_code(secret, jti)
        token = sign_voucher(
            key,
            ctx.settings.issuer,
            jti,
            program.code,
            program.face_value_cents,
            expires_at,
            status_index,
        )
        rows.append(
            {
                "id": voucher_id,
                "jti": jti,
                "code_hash": code_hash(secret, code),
                "booklet_id": booklet_id,
                "program_id": program.id,
                "position": position,
                "value_cents": program.face_value_cents,
                "status": status,
                "kid": key.kid,
                "issued_at": now,
                "expires_at": expires_at,
                "status_index": status_index,
            }
        )
        shown.append(
            {
                "id": voucher_id,
                "position": position,
                "code": format_code(code),
                "token": token,
                "qr_content": f"{ctx.settings.public_base_url}/r#{token}",
                "value_cents": program.face_value_cents,
                "currency": program.currency,
                "expires_at": rfc3339(expires_at),
            }
        )
    return rows, shown


def booklet_view(session: Session, booklet: Booklet) -> dict[str, Any]:
    """A booklet as its issuer sees it later: each voucher's status, no token, no reference."""
    vouchers = session.scalars(
        select(Voucher).where(Voucher.booklet_id == booklet.id).order_by(Voucher.position)
    )
    program = session.get(Program, booklet.program_id)
    currency = program.currency if program else "EUR"
    batch: dict[str, Any] = {}
    if booklet.batch_id is not None:  # pre-printed: its batch, and whether it was handed out
        activated = booklet.activated_at
        batch = {
            "batch_id": booklet.batch_id,
            "activated_at": None if activated is None else rfc3339(activated),
        }
    cancelled = booklet.cancelled_at
    # A lost booklet: its cancellation, and the booklet that replaced it (or that it replaces).
    lifecycle = {
        "cancelled_at": None if cancelled is None else rfc3339(cancelled),
        "cancellation_reason": booklet.cancellation_reason,
        "replaces": _named(booklet.replaces_id),
        "replaced_by": _named(
            session.scalar(select(Booklet.id).where(Booklet.replaces_id == booklet.id))
        ),
    }
    return {
        "id": booklet.id,
        "program_id": booklet.program_id,
        "organisation_id": booklet.organisation_id,
        "issued_at": rfc3339(booklet.issued_at),
        **batch,
        **lifecycle,
        "vouchers": [
            {
                "id": v.id,
                "status": v.status,
                "value_cents": v.value_cents,
                "currency": currency,
                "expires_at": rfc3339(v.expires_at),
                "redeemed_at": None if v.redeemed_at is None else rfc3339(v.redeemed_at),
            }
            for v in vouchers
        ],
    }


def _named(booklet_id: str | None) -> dict[str, str] | None:
    """Another booklet, as an answer names it: {id}, or null."""
    return None if booklet_id is None else {"id": booklet_id}


def get_booklet(database: Database, principal: Principal, booklet_id: str) -> dict[str, Any]:
    with database.read() as session:
        booklet = session.get(Booklet, booklet_id)
        # Another organisation's booklet is reported missing: its existence must not leak.
        if booklet is None or not principal.sees_organisation(booklet.organisation_id):
            raise NotFound(f"no booklet {booklet_id}")
        return booklet_view(session, booklet)
