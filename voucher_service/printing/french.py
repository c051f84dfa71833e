"""Amounts, dates, distances and services as a French reader expects to see them."""

from __future__ import annotations

import unicodedata
from datetime import date

NBSP = "\u00a0"  # keeps "10,00" and "€" on one line
NNBSP = "\u202f"  # thousands: 1 000,00 €
CURRENCY_SIGNS = {"EUR": "€"}
MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip
SERVICE_LABELS = {
    "atelier-smartphone": "Atelier smartphone",
    "atelier-tablette": "Atelier tablette",
    "atelier-ordinateur": "Atelier ordinateur",
    "atelier-internet": "Atelier internet",
    "atelier-messagerie": "Atelier courriel",
    "demarches-en-ligne": "Démarches en ligne",
    "accompagnement-individuel": "Accompagnement individuel",
    "acces-libre": "Ordinateurs en accès libre",
}


def amount(cents: int, currency: str = "EUR") -> str:
    """`1050, "EUR"` → `10,50 €`."""
    sign = "-" if cents < 0 else ""
    units, hundredths = divmod(abs(cents), 100)
    grouped = f"{units:,}".replace(",", NNBSP)
    return f"{sign}{grouped},{hundredths:02d}{NBSP}{CURRENCY_SIGNS.get(currency, currency)}"


def long_date(day: date) -> str:
    """`2027-12-31` → `31 décembre 2027`; the first of a month is `1er`."""
    return f"{day.day}{'er' if day.day == 1 else ''} {MONTHS[day.month - 1]} {day.year}"


def short_date(day: date) -> str:
    return f"{day.day:02d}/{day.month:02d}/{day.year}"


def distance(km: float) -> str:
    """`1.23` → `à 1,2 km`, never broken across lines."""
    return f"à{NBSP}{km:.1f}{NBSP}km".replace(".", ",")


def service_label(slug: str) -> str:
    """A service's name for people; a slug we do not know is shown as given."""
    return SERVICE_LABELS.get(slug, slug)


def printable(text: str) -> str:
    """Accents composed (the fonts have é, not e and a floating accent), no stray spaces."""
    return unicodedata.normalize("NFC", text).strip()
