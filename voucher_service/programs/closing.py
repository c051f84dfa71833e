"""A programme's closing statement for its funder: what was allocated, issued, redeemed, paid,
and what the funder gets credit for, read from the ledger's balances (never a scan of the
vouchers), so that it agrees with the audit to the cent; in JSON and as a one-page PDF.

`unused` is what the funder gets credit for: allocated − redeemed, which is the budget never
issued or given back (available) plus the vouchers still in circulation (outstanding), whose
value comes back as they expire. The figures add up: allocated = redeemed + unused,
unused = available + outstanding, redeemed = paid + unpaid.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fpdf import FPDF

from voucher_service.clock import local_zone, rfc3339
from voucher_service.db import Database
from voucher_service.printing import french
from voucher_service.printing.booklet import new_document
from voucher_service.printing.typefaces import SANS
from voucher_service.programs.api import load_program
from voucher_service.programs.figures import program_figures
from voucher_service.programs.models import Program


def closing_statement(database: Database, program_id: str, now: datetime) -> dict[str, Any]:
    """The programme, the moment, and its figures in cents (CONTRACT §9's names)."""
    with database.read() as session:
        program = load_program(session, program_id)
        read = program_figures(session, program.id)
    return {"program": _identity(program), "at": rfc3339(now), **closing_figures(read)}


def closing_figures(read: dict[str, int]) -> dict[str, int]:
    """The statement's figures (CONTRACT §9's names, in cents) from the programme's own
    (programs/figures.py), which are read from the same balances."""
    allocated, redeemed, paid = read["budget_cents"], read["redeemed_cents"], read["paid_cents"]
    return {
        "allocated": allocated,
        "issued": read["issued_cents"],
        "redeemed": redeemed,
        "settled": read["settled_cents"],
        "paid": paid,
        "expired": read["expired_cents"],
        "cancelled": read["cancelled_cents"],
        "outstanding": read["outstanding_cents"],
        "available": read["available_cents"],
        "unused": allocated - redeemed,
        "unpaid": redeemed - paid,
    }


def _identity(program: Program) -> dict[str, Any]:
    return {
        "id": program.id,
        "code": program.code,
        "name": program.name,
        "funder": program.funder,
        "currency": program.currency,
        "valid_from": rfc3339(program.valid_from),
        "valid_until": rfc3339(program.valid_until),
    }


# The PDF: one A4 page in French

MARGIN = 18.0  # mm
BODY = 11.0  # pt
LINE = 7.0  # mm between the table's lines
COLON = "\u00a0: "
ROWS = (  # (figure, label, what it is; a bold row is a total)
    ("allocated", "Budget alloué", "toutes les dotations du financeur", True),
    ("issued", "Chèques émis", "remis aux bénéficiaires ou imprimés", False),
    ("redeemed", "Chèques utilisés", "encaissés par les lieux partenaires", False),
    ("settled", "dont mis en paiement", "relevés mensuels mis en paiement", False),
    ("paid", "dont payés", "virements confirmés par la banque", False),
    ("expired", "Chèques expirés", "non utilisés à temps, rendus au budget", False),
    ("cancelled", "Chèques annulés", "carnets perdus ou volés, rendus au budget", False),
    ("outstanding", "Chèques en circulation", "encore utilisables", False),
    ("available", "Budget non engagé", "jamais émis, ou rendu au budget", False),
    ("unused", "Non utilisé", "alloué moins utilisé : crédit du financeur", True),
)


def closing_statement_pdf(database: Database, program_id: str, now: datetime) -> bytes:
    """The statement on one page, dated `now` (Paris time): the same figures as its JSON."""
    return render_closing_statement(closing_statement(database, program_id, now), now)


def render_closing_statement(statement: dict[str, Any], now: datetime) -> bytes:
    program, figures = statement["program"], statement
    title = f"Relevé de clôture — {program['name']}"
    with new_document(now, title) as pdf:
        pdf.add_page()
        pdf.set_margins(MARGIN, MARGIN, MARGIN)
        pdf.set_xy(MARGIN, MARGIN)
        _heading(pdf, program, now)
        _table(pdf, figures, program["currency"])
        _notes(pdf, figures, program["currency"])
        return bytes(pdf.output())


def _heading(pdf: FPDF, program: dict[str, Any], now: datetime) -> None:
    local = now.astimezone(local_zone())
    hour = f"{local:%H}\u00a0h\u00a0{local:%M}"
    pdf.set_font(SANS, "B", 18)
    pdf.cell(0, 10, "Relevé de clôture", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(SANS, "B", 13)
    name = french.printable(program["name"])
    pdf.multi_cell(0, 7, name, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    start = datetime.fromisoformat(program["valid_from"]).astimezone(local_zone()).date()
    # The last day it issues: `valid_until` is the first moment it no longer does.
    until = datetime.fromisoformat(program["valid_until"]) - timedelta(seconds=1)
    end = until.astimezone(local_zone()).date()
    for label, value in (
        ("Financeur", program["funder"]),
        ("Code du programme", program["code"]),
        ("Période d'émission", f"du {french.long_date(start)} au {french.long_date(end)}"),
        ("Arrêté le", f"{french.long_date(local.date())} à {hour} (heure de Paris)"),
    ):
        pdf.set_font(SANS, "B", BODY)
        pdf.cell(pdf.get_string_width(label + COLON) + 1, 6, label + COLON)
        pdf.set_font(SANS, "", BODY)
        pdf.multi_cell(0, 6, french.printable(value), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(SANS, "", BODY - 3)
    pdf.set_text_color(90, 90, 90)
    pdf.cell(0, 5, f"Identifiant du programme{COLON}{program['id']}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.ln(5)


def _table(pdf: FPDF, figures: dict[str, int], currency: str) -> None:
    """One line a figure: its label, what it is (small), its amount right-aligned."""
    label_width, amount_width = 56.0, 38.0
    meaning_width = pdf.epw - label_width - amount_width
    pdf.set_draw_color(190, 190, 190)
    pdf.set_font(SANS, "B", BODY)
    pdf.cell(label_width, LINE, "Poste", border="B")
    pdf.cell(meaning_width, LINE, "", border="B")
    pdf.cell(amount_width, LINE, "Montant", border="B", align="R", new_x="LMARGIN", new_y="NEXT")
    for name, label, meaning, total in ROWS:
        pdf.set_fill_color(235, 240, 247)
        pdf.set_font(SANS, "B" if total else "", BODY)
        indent = "    " if label.startswith("dont ") else ""
        pdf.cell(label_width, LINE, indent + label, border="B", fill=total)
        pdf.set_font(SANS, "", BODY - 2.5)
        pdf.set_text_color(90, 90, 90)
        pdf.cell(meaning_width, LINE, french.printable(meaning), border="B", fill=total)
        pdf.set_text_color(0, 0, 0)
        pdf.set_font(SANS, "B" if total else "", BODY)
        amount = french.amount(figures[name], currency)
        pdf.cell(
            amount_width, LINE, amount, border="B", align="R", fill=total,
            new_x="LMARGIN", new_y="NEXT",
        )  # fmt: skip
    pdf.ln(6)


def _notes(pdf: FPDF, figures: dict[str, int], currency: str) -> None:
    """How the figures add up, with their amounts, and where they come from."""

    def euros(name: str) -> str:
        return french.amount(figures[name], currency)

    lines = (
        f"Alloué = utilisé + non utilisé{COLON}{euros('allocated')} = "
        f"{euros('redeemed')} + {euros('unused')}.",
        f"Non utilisé = budget non engagé + chèques en circulation{COLON}"
        f"{euros('unused')} = {euros('available')} + {euros('outstanding')}. "
        "Les chèques encore en circulation reviennent au budget à leur expiration.",
        f"Utilisé = payé + restant à payer aux lieux partenaires{COLON}{euros('redeemed')}"
        f" = {euros('paid')} + {euros('unpaid')}.",
        "Ces montants sont les soldes du registre des opérations (grand livre en partie double, "
        "signé et vérifiable hors ligne avec « voucher-service audit verify »). Ils ne "
        "contiennent aucune donnée personnelle.",
    )
    pdf.set_font(SANS, "B", BODY)
    pdf.cell(0, 7, "Comment les montants s'additionnent", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(SANS, "", BODY - 0.5)
    for line in lines:
        pdf.multi_cell(0, 5.5, line, align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1.5)
