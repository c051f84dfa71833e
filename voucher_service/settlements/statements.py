"""A partner's statement for people: one line a redemption (its day and hour in Paris, the
voucher, the service, the amount) and the total, in French, as CSV and as PDF.

The PDF is drawn with the booklets' document set-up and typefaces (`printing.new_document`):
one place loads the fonts. Amounts are written from cents by `printing.french.amount`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime

from fpdf import FPDF
from sqlalchemy import select

from voucher_service.auth.api import Principal
from voucher_service.clock import local_zone
from voucher_service.db import Database
from voucher_service.errors import NotFound
from voucher_service.partners.models import Partner
from voucher_service.printing import french, new_document
from voucher_service.printing.typefaces import SANS
from voucher_service.programs.models import Program
from voucher_service.settlements.api import readable_settlement
from voucher_service.settlements.models import (
    IN_PAYMENT,
    PAID,
    REJECTED,
    SettlementLine,
    Statement,
)
from voucher_service.vouchers.models import Redemption

STATUS_LABELS = {IN_PAYMENT: "en paiement", PAID: "payé", REJECTED: "paiement rejeté"}
HEADINGS = ("Date (heure de Paris)", "Chèque", "Service", "Montant")


@dataclass(frozen=True)
class Line:
    redeemed_at: datetime
    voucher_id: str
    service: str | None
    amount_cents: int


@dataclass(frozen=True)
class StatementDocument:
    """What a statement shows: plain values read in one transaction."""

    settlement_id: str
    period: date
    created_at: datetime
    status: str
    program_name: str
    funder: str
    partner_name: str
    siret: str
    lines: tuple[Line, ...]
    total_cents: int


def read_statement(
    database: Database, principal: Principal, settlement_id: str, partner_id: str
) -> StatementDocument:
    """The partner's statement in the settlement: the partner its own, admin and auditor any;
    a statement that does not exist or is not the caller's is reported missing."""
    if principal.role == "partner" and principal.partner_id != partner_id:
        raise NotFound(f"no statement of partner {partner_id} in settlement {settlement_id}")
    with database.read() as session:
        settlement = readable_settlement(session, principal, settlement_id)
        statement = session.scalar(
            select(Statement).where(
                Statement.settlement_id == settlement.id, Statement.partner_id == partner_id
            )
        )
        if statement is None:
            raise NotFound(f"no statement of partner {partner_id} in settlement {settlement_id}")
        program = session.get(Program, settlement.program_id)
        partner = session.get(Partner, partner_id)
        assert program is not None
        assert partner is not None
        lines = tuple(
            Line(at, voucher_id, service, amount)
            for at, voucher_id, service, amount in session.execute(
                select(
                    Redemption.redeemed_at,
                    Redemption.voucher_id,
                    Redemption.service,
                    SettlementLine.amount_cents,
                )
                .join(Redemption, Redemption.id == SettlementLine.redemption_id)
                .where(SettlementLine.statement_id == statement.id)
                .order_by(Redemption.redeemed_at, Redemption.id)
            )
        )
        year, month = (int(part) for part in settlement.period.split("-"))
        return StatementDocument(
            settlement_id=settlement.id,
            period=date(year, month, 1),
            created_at=settlement.created_at,
            status=statement.status,
            program_name=program.name,
            funder=program.funder,
            partner_name=partner.name,
            siret=partner.siret,
            lines=lines,
            total_cents=statement.amount_cents,
        )


def local_time(moment: datetime) -> str:
    """`31/10/2026 23:30`: the day and hour in Paris, as the venue saw them."""
    local = moment.astimezone(local_zone())
    return f"{french.short_date(local.date())} {local:%H:%M}"


def service_text(service: str | None) -> str:
    return "" if service is None else french.service_label(service)


def month_title(period: date) -> str:
    return f"{french.MONTHS[period.month - 1]} {period.year}"


def statement_csv(document: StatementDocument) -> bytes:
    """The statement as CSV for a spreadsheet in French: `;` between fields (the comma is the
    decimal mark), UTF-8 with a byte-order mark so that a spreadsheet reads the accents."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(HEADINGS)
    for line in document.lines:
        writer.writerow(
            (
                local_time(line.redeemed_at),
                line.voucher_id,
                service_text(line.service),
                french.amount(line.amount_cents),
            )
        )
    count = len(document.lines)
    writer.writerow(
        (
            "Total",
            f"{count} chèque{'s' if count > 1 else ''}",
            "",
            french.amount(document.total_cents),
        )
    )
    return ("\ufeff" + out.getvalue()).encode()


MARGIN = 16.0  # mm
WIDTHS = (42, 78, 38, 20)  # the table's columns, mm (178 = the page less its margins)


def statement_pdf(document: StatementDocument) -> bytes:
    """The statement as an A4 PDF, the same bytes at every download (dated by its settlement)."""
    title = f"Relevé {document.partner_name} — {month_title(document.period)}"
    with new_document(document.created_at, title) as pdf:
        pdf.set_auto_page_break(auto=True, margin=MARGIN)
        pdf.set_margins(MARGIN, MARGIN, MARGIN)
        pdf.add_page()
        _heading(pdf, document)
        _table(pdf, document)
        return bytes(pdf.output())


def _heading(pdf: FPDF, document: StatementDocument) -> None:
    pdf.set_font(SANS, "B", 16)
    pdf.multi_cell(0, 8, "Relevé de remboursement des chèques", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font(SANS, "", 11)
    rows = (
        ("Partenaire", f"{document.partner_name} (SIRET {document.siret})"),
        ("Programme", document.program_name),
        ("Financé par", document.funder),
        ("Période", month_title(document.period)),
        ("État", STATUS_LABELS.get(document.status, document.status)),
        ("Règlement", document.settlement_id),
    )
    for label, value in rows:
        pdf.set_font(SANS, "B", 11)
        pdf.cell(32, 6, f"{label}\u00a0:")
        pdf.set_font(SANS, "", 11)
        pdf.multi_cell(0, 6, value, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)


def _table(pdf: FPDF, document: StatementDocument) -> None:
    """One row a redemption, the headings again atop every page, the total last. Plain cells,
    not fpdf2's table (which measures and wraps every cell: ten times slower on a busy
    venue's month); a text too wide for its column is cut with an ellipsis."""
    _row(pdf, HEADINGS, bold=True, fill=True)
    for line in document.lines:
        if pdf.get_y() + ROW > pdf.h - MARGIN - ROW:  # leave room for the total's row
            pdf.add_page()
            _row(pdf, HEADINGS, bold=True, fill=True)
        cells = (
            local_time(line.redeemed_at),
            line.voucher_id,
            service_text(line.service),
            french.amount(line.amount_cents),
        )
        _row(pdf, cells)
    count = len(document.lines)
    total = ("Total", f"{count} chèque{'s' if count > 1 else ''}", "")
    _row(pdf, (*total, french.amount(document.total_cents)), bold=True)


ROW = 5.5  # mm


def _row(pdf: FPDF, cells: tuple[str, ...], bold: bool = False, fill: bool = False) -> None:
    pdf.set_font(SANS, "B" if bold else "", 9)
    pdf.set_fill_color(230, 230, 230)
    last = len(cells) - 1
    for index, (text, width) in enumerate(zip(cells, WIDTHS, strict=True)):
        pdf.cell(
            width,
            ROW,
            _fitted(pdf, text, width - 2 * pdf.c_margin),
            border=1,
            align="R" if index == last else "L",
            fill=fill,
        )
    pdf.ln(ROW)


def _fitted(pdf: FPDF, text: str, width: float) -> str:
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + "…") > width:
        text = text[:-1]
    return text + "…"
