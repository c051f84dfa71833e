"""A booklet as its paper shows it, read from the database: the values `printing` draws, each
voucher's code derived again from its jti and its token signed again from its stored claims."""

from __future__ import annotations

import json
import unicodedata
from datetime import date, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ec import ECDSA, EllipticCurvePrivateKey
from jwt.algorithms import ECAlgorithm
from jwt.api_jws import PyJWS
from jwt.utils import der_to_raw_signature
from sqlalchemy import select
from sqlalchemy.orm import Session

from voucher_service.auth.api import Principal
from voucher_service.clock import local_zone
from voucher_service.context import ServiceContext
from voucher_service.db import Database
from voucher_service.errors import InvalidRequest, NotFound
from voucher_service.keys import SigningKey
from voucher_service.organisations.models import Organisation
from voucher_service.partners.directory import nearest_venues
from voucher_service.partners.opening_hours import DAYS, OpeningHours
from voucher_service.printing import PrintedBooklet, PrintedVoucher, Venue, render_booklet
from voucher_service.printing.french import NBSP
from voucher_service.printing.typefaces import TEXT_REPERTOIRE
from voucher_service.programs.models import Program
from voucher_service.vouchers.codes import derive_code, format_code
from voucher_service.vouchers.models import Booklet, Voucher
from voucher_service.vouchers.tokens import voucher_claims

MAX_HOLDER_LENGTH = 80
VENUES_LISTED = 5
DAY_NAMES = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
# Characters a name may hold and our typefaces draw; never a control, format (bidi overrides,
# zero-width) or line-separator character, nor the replacement character a bad byte became.
_PRINTABLE = frozenset(map(chr, TEXT_REPERTOIRE)) - {"\ufffd"}
_UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def booklet_pdf(
    database: Database,
    ctx: ServiceContext,
    principal: Principal,
    booklet_id: str,
    near: tuple[float, float] | None = None,
    holder: str | None = None,
) -> bytes:
    """The booklet's PDF. Dated at its issue and its tokens signed deterministically, so that
    every reprint for the same holder and place is the same document, byte for byte."""
    holder = holder_to_print(holder)
    with database.read() as session:
        booklet = readable_booklet(session, principal, booklet_id)
        issued_at = booklet.issued_at
        printed = printed_booklet(session, ctx, booklet.id, near, holder)
    return render_booklet(printed, created_at=issued_at)


def voucher_qr_content(
    database: Database, ctx: ServiceContext, principal: Principal, voucher_id: str
) -> str:
    """What a voucher's QR code holds: the same as on its printed booklet."""
    with database.read() as session:
        voucher = session.get(Voucher, voucher_id)
        booklet = None if voucher is None else session.get(Booklet, voucher.booklet_id)
        if (
            voucher is None
            or booklet is None
            or not principal.sees_organisation(booklet.organisation_id)
        ):
            raise NotFound(f"no voucher {voucher_id}")
        program = session.get(Program, voucher.program_id)
        assert program is not None  # a foreign key
        return qr_content(ctx, voucher, program.code)


def readable_booklet(session: Session, principal: Principal, booklet_id: str) -> Booklet:
    booklet = session.get(Booklet, booklet_id)
    # Another organisation's booklet is reported missing: its existence must not leak.
    if booklet is None or not principal.sees_organisation(booklet.organisation_id):
        raise NotFound(f"no booklet {booklet_id}")
    return booklet


def printed_booklet(
    session: Session,
    ctx: ServiceContext,
    booklet_id: str,
    near: tuple[float, float] | None = None,
    holder: str | None = None,
) -> PrintedBooklet:
    """What the booklet's paper shows; the letter lists the affiliated venues nearest to
    `near`, else to the organisation, else none (it then sends the holder to the desk)."""
    booklet = session.get(Booklet, booklet_id)
    if booklet is None:
        raise NotFound(f"no booklet {booklet_id}")
    program = session.get(Program, booklet.program_id)
    organisation = session.get(Organisation, booklet.organisation_id)
    assert program is not None  # foreign keys
    assert organisation is not None
    vouchers = list(
        session.scalars(
            select(Voucher).where(Voucher.booklet_id == booklet.id).order_by(Voucher.position)
        )
    )
    return PrintedBooklet(
        program_name=program.name,
        program_code=program.code,
        funder=program.funder,
        face_value_cents=vouchers[0].value_cents,
        currency=program.currency,
        valid_until=last_day(max(voucher.expires_at for voucher in vouchers)),
        organisation_name=organisation.name,
        holder=holder,
        venues=_venues(session, program.id, near or _location(organisation)),
        vouchers=tuple(
            PrintedVoucher(
                id=voucher.id,
                code=format_code(derive_code(ctx.keys.secret, voucher.jti)),
                qr_content=qr_content(ctx, voucher, program.code),
                position=voucher.position,
                of=len(vouchers),
            )
            for voucher in vouchers
        ),
    )


def last_day(expires_at: datetime) -> date:
    """The last day, in Paris, on which a voucher is still good: a token is refused from its
    `exp` on, so one that expires at midnight was last good the day before."""
    return (expires_at - timedelta(seconds=1)).astimezone(local_zone()).date()


def _location(organisation: Organisation) -> tuple[float, float] | None:
    if organisation.latitude is None or organisation.longitude is None:
        return None
    return organisation.latitude, organisation.longitude


def _venues(
    session: Session, program_id: str, near: tuple[float, float] | None
) -> tuple[Venue, ...]:
    if near is None:
        return ()
    return tuple(
        Venue(
            name=venue.name,
            address=venue.address,
            postcode=venue.postcode,
            services=tuple(venue.services),
            distance_km=venue.distance_km,
            opening_hours=None if not venue.opening_hours else hours_in_french(venue.opening_hours),
        )
        for venue in nearest_venues(session, program_id, near, limit=VENUES_LISTED)
    )


def hours_in_french(hours: OpeningHours) -> str:
    """`{"mo": [["09:00", "12:30"]], "tu": …}` → `Du lundi au vendredi 9 h – 12 h 30 ; samedi
    10 h – 12 h`: days in a row that open alike are said once."""
    runs: list[tuple[list[int], str]] = []  # (the days, by index in the week; their hours)
    for index, day in enumerate(DAYS):
        intervals = hours.get(day)
        if not intervals:
            continue
        # An interval is never broken across lines: `10 h – 12 h 30` stays whole.
        said = " et ".join(f"{_time(a)}{NBSP}–{NBSP}{_time(b)}" for a, b in intervals)
        if runs and runs[-1][0][-1] == index - 1 and runs[-1][1] == said:
            runs[-1][0].append(index)
        else:
            runs.append(([index], said))
    text = " ; ".join(f"{_days(days)}{NBSP}{said}" for days, said in runs)
    return text[:1].upper() + text[1:]


def _days(days: list[int]) -> str:
    first, last = DAY_NAMES[days[0]], DAY_NAMES[days[-1]]
    return {1: first, 2: f"{first} et {last}"}.get(len(days), f"du {first} au {last}")


def _time(hh_mm: str) -> str:
    """`09:00` → `9 h`, `12:30` → `12 h 30`, never broken across lines."""
    hours, minutes = hh_mm.split(":")
    return f"{int(hours)}{NBSP}h" + ("" if minutes == "00" else f"{NBSP}{minutes}")


def holder_to_print(holder: str | None) -> str | None:
    """The holder's name as the letter prints it (None: no name), or 400. Nothing is kept: it
    is neither stored nor logged, and a refusal does not repeat it."""
    if holder is None:
        return None
    name = unicodedata.normalize("NFC", holder).strip()
    if len(name) > MAX_HOLDER_LENGTH:
        raise InvalidRequest(
            f"holder is at most {MAX_HOLDER_LENGTH} characters",
            [{"path": "holder", "message": f"at most {MAX_HOLDER_LENGTH} characters"}],
        )
    if any(_unprintable(char) for char in name):
        raise InvalidRequest(
            "holder has a character that cannot be printed",
            [{"path": "holder", "message": "letters, digits, spaces and punctuation only"}],
        )
    return name or None


def _unprintable(char: str) -> bool:
    return char not in _PRINTABLE or unicodedata.category(char) in _UNPRINTABLE_CATEGORIES


# Tokens, signed again


def qr_content(ctx: ServiceContext, voucher: Voucher, program_code: str) -> str:
    return f"{ctx.settings.public_base_url}/r#{reprinted_token(ctx, voucher, program_code)}"


def reprinted_token(ctx: ServiceContext, voucher: Voucher, program_code: str) -> str:
    """The voucher's token from its stored claims (the same jti, p, v, exp and s), under the
    key that signed it; under the current one if that key has left the keys directory."""
    key = ctx.keys.voucher.get(voucher.kid) or ctx.keys.voucher.current
    claims = voucher_claims(
        ctx.settings.issuer,
        voucher.jti,
        program_code,
        voucher.value_cents,
        voucher.expires_at,
        voucher.status_index,
    )
    return _sign_deterministically(key, claims)


class _DeterministicES256(ECAlgorithm):
    """ES256 whose nonce is derived from the key and the message (RFC 6979): the same claims
    under the same key give the same token, so a reprint gives the same QR codes."""

    def sign(self, msg: bytes, key: EllipticCurvePrivateKey) -> bytes:
        signature = key.sign(msg, ECDSA(self.hash_alg(), deterministic_signing=True))
        return der_to_raw_signature(signature, key.curve)


_JWS = PyJWS(algorithms=[])
_JWS.register_algorithm("ES256", _DeterministicES256(ECAlgorithm.SHA256))


def _sign_deterministically(key: SigningKey, claims: dict[str, Any]) -> str:
    """As `tokens.sign` writes a token (the kid alone in the header, compact JSON claims),
    with a deterministic signature."""
    payload = json.dumps(claims, separators=(",", ":")).encode()
    return _JWS.encode(
        payload, key.private_key, algorithm="ES256", headers={"kid": key.kid, "typ": None}
    )
