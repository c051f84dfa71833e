"""The monthly report as CSV for a funder's spreadsheet, in French.

One row per month × dimension × key: the month's total (`total`), then each partner
(`partenaire`), then each organisation (`organisation`; a blank id, « inconnue », for the
entries older than the ledger's naming of organisations). What a spreadsheet set to French
opens as it is: fields separated by semicolons, UTF-8 with a byte-order mark (so accents
survive), amounts twice: in cents, whole numbers that add up exactly, and in euros with a
decimal comma and no currency sign, so that they are numbers a formula can sum. A measure
that does not apply to a dimension (a partner issues nothing) is left empty.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from voucher_service.reports.monthly import (
    COUNTED,
    MEASURES,
    ORGANISATION_FIELDS,
    PARTNER_FIELDS,
)

LABELS = {
    "allocated": "budget alloué",
    "issued": "émis",
    "redeemed": "utilisés",
    "reversed": "utilisations annulées",
    "expired": "expirés",
    "cancelled": "annulés",
    "settled": "mis en paiement",
    "rejected": "paiements rejetés",
    "paid": "payés",
}
DIMENSIONS = {"total": "total", "partner": "partenaire", "organisation": "organisation"}
UNKNOWN = "inconnue"
BOM = "\ufeff"


def columns() -> list[tuple[str, str, str]]:
    """(header, field of the JSON row, how it is written: as is or in euros)."""
    found: list[tuple[str, str, str]] = []
    for measure in MEASURES:
        label = LABELS[measure]
        if measure in COUNTED:
            found.append((f"{label} (nombre)", f"{measure}_count", "count"))
        found.append((f"{label} (centimes)", f"{measure}_cents", "count"))
        found.append((f"{label} (euros)", f"{measure}_cents", "euros"))
    return found


HEADERS = ["mois", "dimension", "identifiant", "nom", *(header for header, _, _ in columns())]


def report_csv(report: dict[str, Any]) -> Iterator[str]:
    """The report's lines, header first."""
    yield BOM + _line(HEADERS)
    for month in report["months"]:
        name = month["month"]
        yield _line([name, DIMENSIONS["total"], "", "", *_cells(month["totals"], None)])
        for row in month["partners"]:
            key = row["partner_id"]
            yield _line(
                [name, DIMENSIONS["partner"], key or "", _label(key, row["name"]),
                 *_cells(row, PARTNER_FIELDS)]
            )  # fmt: skip
        for row in month["organisations"]:
            key = row["organisation_id"]
            yield _line(
                [name, DIMENSIONS["organisation"], key or "", _label(key, row["name"]),
                 *_cells(row, ORGANISATION_FIELDS)]
            )  # fmt: skip


def euros(cents: int) -> str:
    """`123450` → `1234,50`: a number for a spreadsheet set to French (decimal comma, no
    thousands separator, no sign: `printing.french.amount` writes `1 234,50 €`, a text for
    people that a formula cannot add)."""
    sign = "-" if cents < 0 else ""
    units, hundredths = divmod(abs(cents), 100)
    return f"{sign}{units},{hundredths:02d}"


def _label(key: str | None, name: str | None) -> str:
    """A partner's or organisation's name as a cell: « inconnue » when the ledger names none;
    a name that a spreadsheet would take for a formula (=, +, -, @) is kept as text."""
    if key is None:
        return UNKNOWN
    text = name or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _cells(row: dict[str, Any], applicable: list[str] | None) -> list[str]:
    cells = []
    for _, field, form in columns():
        if applicable is not None and field not in applicable:
            cells.append("")
        elif form == "euros":
            cells.append(euros(int(row[field])))
        else:
            cells.append(str(int(row[field])))
    return cells


def _line(values: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";", lineterminator="\r\n").writerow(values)
    return buffer.getvalue()
