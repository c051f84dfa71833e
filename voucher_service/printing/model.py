"""What a printed booklet shows: plain frozen values, gathered by whoever reads the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Venue:
    """An affiliated place, as the cover letter lists it."""

    name: str
    address: str
    postcode: str
    services: tuple[str, ...]  # slugs: "atelier-smartphone", "demarches-en-ligne", …
    distance_km: float | None  # from the holder, or the organisation; None when unknown
    opening_hours: str | None = None


@dataclass(frozen=True)
class PrintedVoucher:
    id: str
    code: str  # as printed: XXXX-XXXX-XXXX-C
    qr_content: str
    position: int  # 1-based place in the booklet
    of: int  # vouchers in the booklet


@dataclass(frozen=True)
class PrintedBooklet:
    program_name: str
    program_code: str
    funder: str
    face_value_cents: int
    currency: str  # ISO 4217, "EUR"
    valid_until: date  # the vouchers' last day
    organisation_name: str  # who hands the booklet over
    holder: str | None  # printed, never stored
    venues: tuple[Venue, ...]  # nearest first; the cover letter shows the first five
    vouchers: tuple[PrintedVoucher, ...]
