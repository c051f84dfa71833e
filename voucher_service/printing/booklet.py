"""A booklet as a PDF: the cover letter, then its vouchers, ten to a page."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from fpdf import FPDF
from fpdf.fonts import TTFFont

from voucher_service.printing.cover import draw_cover_letter
from voucher_service.printing.model import PrintedBooklet
from voucher_service.printing.sheet import draw_voucher_sheets
from voucher_service.printing.typefaces import add_typefaces


@contextmanager
def new_document(created_at: datetime, title: str) -> Iterator[FPDF]:
    """An empty A4 document in our typefaces, their files closed on leaving. Its creation date
    is given, not read from the clock, so that printing the same booklet twice gives the same
    bytes."""
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=False)  # every page is laid out to fit; none may spill over
    pdf.set_creation_date(created_at)
    pdf.set_title(title)
    pdf.set_lang("fr")
    try:
        add_typefaces(pdf)
        yield pdf
    finally:
        # fpdf2 closes a font's file when it writes it out, not one left unused or unwritten.
        for font in pdf.fonts.values():
            if isinstance(font, TTFFont):
                font.close()


def draw_booklet(pdf: FPDF, booklet: PrintedBooklet) -> None:
    """Add a booklet's pages to `pdf`: the cover letter, then the voucher sheets."""
    draw_cover_letter(pdf, booklet)
    draw_voucher_sheets(pdf, booklet)


def render_booklets(booklets: Sequence[PrintedBooklet], created_at: datetime) -> bytes:
    """One PDF of the booklets, one after the other (held in memory: `batch` streams many)."""
    if not booklets:
        raise ValueError("there is no booklet to print")
    with new_document(created_at, document_title(booklets[0])) as pdf:
        for booklet in booklets:
            draw_booklet(pdf, booklet)
        return bytes(pdf.output())


def render_booklet(booklet: PrintedBooklet, *, created_at: datetime) -> bytes:
    """The booklet's PDF. Pass the booklet's issue time as `created_at`: a reprint is then
    byte for byte the same document."""
    return render_booklets([booklet], created_at)


def document_title(booklet: PrintedBooklet) -> str:
    return f"Chèques {booklet.program_name} — {booklet.organisation_name}"
