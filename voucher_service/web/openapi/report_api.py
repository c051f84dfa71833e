"""The report operations of the OpenAPI document, with their examples (see areas.py)."""

from __future__ import annotations

from typing import Any

from voucher_service.reports.monthly import (
    ORGANISATION_FIELDS,
    PARTNER_FIELDS,
    TOTAL_FIELDS,
)
from voucher_service.reports.spreadsheet import BOM, report_csv
from voucher_service.web.openapi.areas import Area
from voucher_service.web.openapi.examples import ORGANISATION, PARTNER, PROGRAM, Examples
from voucher_service.web.openapi.operations import (
    ADMIN,
    AUDITOR,
    Operation,
    Parameter,
    RawOperation,
)

REPORT = "/v1/reports/programs/{program_id}"
REPORT_CSV = "/v1/reports/programs/{program_id}.csv"
MONTH = {"type": "string", "pattern": r"^\d{4}-(0[1-9]|1[0-2])$", "maxLength": 7}
PERIOD = [
    Parameter(
        "from", "query", MONTH,
        "The first month of the report (YYYY-MM, a month of Europe/Paris, inclusive); "
        "default: the programme's first month.",
    ),
    Parameter(
        "to", "query", MONTH,
        "The last month of the report (YYYY-MM, inclusive); default: the current month. "
        "At most 120 months from `from`; `from` after `to` is a 400.",
    ),
]  # fmt: skip
READ_FROM_THE_LEDGER = (
    "Every amount and count is a sum over the programme's ledger entries (those still "
    "queued for the log too), by the month of Europe/Paris of each entry's `at`: a "
    "redemption at 00:30 on 1 December in Paris counts in December. So, over all the "
    "programme's months, `issued`, `expired` and `cancelled` equal the programme's figures, "
    "`redeemed − reversed` its `redeemed_cents`, `settled − rejected` its `settled_cents` and "
    "`paid` its `paid_cents`, to the cent. Counts are of vouchers, for the entries that list "
    "them (settlements name statements, not vouchers). By organisation: the one that issued "
    "the vouchers (as their issue entry names it; `organisation_id` null for entries older "
    "than that naming). Names come from the directory, for reading only."
)


def _row(fields: list[str], **values: int) -> dict[str, int]:
    return {name: values.get(name, 0) for name in fields}


NOVEMBER = {
    "month": "2026-11",
    "totals": _row(
        TOTAL_FIELDS,
        allocated_cents=5_000_000,
        issued_count=120,
        issued_cents=120_000,
        redeemed_count=46,
        redeemed_cents=46_000,
        reversed_count=1,
        reversed_cents=1000,
        cancelled_count=10,
        cancelled_cents=10_000,
    ),
    "partners": [
        {
            "partner_id": PARTNER,
            "name": "Médiathèque francophone",
            **_row(
                PARTNER_FIELDS,
                redeemed_count=46,
                redeemed_cents=46_000,
                reversed_count=1,
                reversed_cents=1000,
            ),
        }
    ],
    "organisations": [
        {
            "organisation_id": ORGANISATION,
            "name": "CCAS de Limoges",
            **_row(
                ORGANISATION_FIELDS,
                issued_count=120,
                issued_cents=120_000,
                redeemed_count=46,
                redeemed_cents=46_000,
                reversed_count=1,
                reversed_cents=1000,
                cancelled_count=10,
                cancelled_cents=10_000,
            ),
        }
    ],
}
DECEMBER = {
    "month": "2026-12",
    "totals": _row(
        TOTAL_FIELDS,
        redeemed_count=20,
        redeemed_cents=20_000,
        settled_cents=45_000,
        paid_cents=45_000,
    ),
    "partners": [
        {
            "partner_id": PARTNER,
            "name": "Médiathèque francophone",
            **_row(
                PARTNER_FIELDS,
                redeemed_count=20,
                redeemed_cents=20_000,
                settled_cents=45_000,
                paid_cents=45_000,
            ),
        }
    ],
    "organisations": [
        {
            "organisation_id": ORGANISATION,
            "name": "CCAS de Limoges",
            **_row(ORGANISATION_FIELDS, redeemed_count=20, redeemed_cents=20_000),
        }
    ],
}
EXAMPLE_REPORT: dict[str, Any] = {
    "program_id": PROGRAM,
    "currency": "EUR",
    "from": "2026-11",
    "to": "2026-12",
    "generated_at": "2027-01-05T08:00:00Z",
    "months": [NOVEMBER, DECEMBER],
    "totals": {
        name: NOVEMBER["totals"][name] + DECEMBER["totals"][name]  # type: ignore[index]
        for name in TOTAL_FIELDS
    },
}

AREA = Area(
    operations=[
        Operation(
            "get", REPORT, (ADMIN, AUDITOR), None, 200, "program-report", (400, 401, 403, 404),
            "A programme's months: by partner and by organisation, from the ledger",
            "getProgramReport", "Reports",
        ),
    ],
    raw_operations=[
        RawOperation(
            "get", REPORT_CSV, (ADMIN, AUDITOR), "text/csv",
            "The programme's monthly report as CSV, for a spreadsheet (in French)",
            "getProgramReportCsv", "Reports",
        ),
    ],
    parameters={("get", REPORT): PERIOD, ("get", REPORT_CSV): PERIOD},
    notes={
        "getProgramReport": "Each month of the range (a quiet month too, with zeros): its "
        "totals of each kind of entry (`allocated`, `issued`, `redeemed`, `reversed`, "
        "`expired`, `cancelled`, `settled`, `rejected`, `paid`), then the same by partner "
        "(redeemed, reversed, settled, rejected, paid) and by organisation (issued, redeemed, "
        "reversed, expired, cancelled); `totals` sums the range. " + READ_FROM_THE_LEDGER,
        "getProgramReportCsv": "The same report, one row per month × dimension × key: "
        "`mois`, `dimension` (`total`, `partenaire`, `organisation`), `identifiant`, `nom`, "
        "then for each measure its count (`… (nombre)`, where entries list vouchers), its "
        "amount in cents (`… (centimes)`, whole numbers that add up exactly) and in euros "
        "(`… (euros)`, `1234,50`: a decimal comma, no currency sign, so a spreadsheet set "
        "to French reads a number). Headers in French; fields separated by semicolons; UTF-8 "
        "with a byte-order mark; a measure that does not apply to the row's dimension is "
        "empty; the unknown organisation is `inconnue` with an empty id. "
        + READ_FROM_THE_LEDGER,
    },
    examples={"getProgramReport": Examples(response={"report": EXAMPLE_REPORT})},
    raw_examples={"getProgramReportCsv": "".join(report_csv(EXAMPLE_REPORT)).removeprefix(BOM)},
)  # fmt: skip
