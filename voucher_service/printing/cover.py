"""The cover letter: one A4 page in plain French for someone not at ease with computers."""

from __future__ import annotations

from fpdf import FPDF

from voucher_service.printing import french
from voucher_service.printing.model import PrintedBooklet, Venue
from voucher_service.printing.typefaces import SANS, wrapped

MARGIN = 16.0  # mm
BODY = 12.5  # pt: large, plain type (≥ 12 pt) for readers who find small print hard
LINE = 5.9  # mm between body lines
HEADING = 15  # pt
COLON = "\u00a0: "  # French puts a (non-breaking) space before a colon
VENUES_SHOWN = 5
STEPS = (
    "Choisissez un lieu dans la liste ci-dessous.",
    "Allez-y pour vous inscrire à un atelier.",
    "À chaque atelier, donnez un chèque\u00a0: un chèque par atelier.",
    "Le lieu s'occupe du reste\u00a0: vous n'avez rien à faire sur Internet.",
)


def draw_cover_letter(pdf: FPDF, booklet: PrintedBooklet) -> None:
    pdf.add_page()
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_xy(MARGIN, MARGIN)
    _text(pdf, booklet.organisation_name, size=BODY, bold=True)
    pdf.ln(4)
    _text(pdf, "Vos chèques pour des ateliers numériques", size=19, bold=True, line=10)
    pdf.ln(2)
    _labelled(pdf, f"Programme{COLON}", booklet.program_name)
    _labelled(pdf, f"Financé par{COLON}", booklet.funder)
    if booklet.holder:
        _labelled(pdf, f"Chèques remis à{COLON}", booklet.holder)
    pdf.ln(3)
    _worth(pdf, booklet)
    pdf.ln(3)
    _how_to(pdf)
    pdf.ln(3)
    _venues(pdf, booklet)
    pdf.ln(3)
    question = "Une question\u00a0? Adressez-vous à qui vous a remis ce carnet\u00a0: "
    question += f"{booklet.organisation_name}."
    if pdf.get_y() + 2 * LINE <= pdf.h - MARGIN:
        _text(pdf, question, bold=True)


def _worth(pdf: FPDF, booklet: PrintedBooklet) -> None:
    count = len(booklet.vouchers)
    value = french.amount(booklet.face_value_cents, booklet.currency)
    plural = "s" if count > 1 else ""
    _text(
        pdf,
        f"Ce carnet contient {count} chèque{plural}. Un chèque vaut {value} et paie un atelier.",
    )
    until = french.long_date(booklet.valid_until)
    _text(pdf, f"Vos chèques sont valables jusqu'au {until}.", bold=True)


def _how_to(pdf: FPDF) -> None:
    _text(pdf, "Comment faire\u00a0?", size=HEADING, bold=True, line=8)
    for number, step in enumerate(STEPS, start=1):
        _text(pdf, f"{number}. {step}")


def _venues(pdf: FPDF, booklet: PrintedBooklet) -> None:
    _text(pdf, "Les lieux les plus proches", size=HEADING, bold=True, line=8)
    ask = "Pour connaître d'autres lieux, adressez-vous à qui vous a remis ce carnet."
    if not booklet.venues:
        _text(pdf, ask)
    for venue in booklet.venues[:VENUES_SHOWN]:
        lines = _venue_lines(venue)
        # The letter is one page: a venue that would not fit whole is left for the desk.
        if pdf.get_y() + _height(pdf, lines) + 2 * LINE > pdf.h - MARGIN:
            _text(pdf, ask)
            return
        for label, text in lines:
            _labelled(pdf, label, text)
        pdf.ln(1.5)


def _venue_lines(venue: Venue) -> list[tuple[str, str]]:
    """(label in bold, text) for each line of a venue."""
    heading = french.printable(venue.name)
    if venue.distance_km is not None:
        heading += f" — {french.distance(venue.distance_km)}"
    lines = [(heading, ""), ("", f"{venue.address} ({venue.postcode})")]
    if venue.services:
        lines.append((f"Propose{COLON}", ", ".join(map(french.service_label, venue.services))))
    if venue.opening_hours:
        lines.append((f"Horaires{COLON}", venue.opening_hours))
    return lines


def _height(pdf: FPDF, lines: list[tuple[str, str]]) -> float:
    pdf.set_font(SANS, "B", BODY)  # the widest face, so that the estimate errs on the safe side
    return sum(
        LINE * (1 if _fits(pdf, label + text) else len(wrapped(pdf, pdf.epw, label + text)))
        for label, text in lines
    )


def _fits(pdf: FPDF, text: str) -> bool:
    """Whether `text` takes one line in the current font: fpdf2's wrapping is slow, and most
    of a letter's lines need none."""
    return pdf.get_string_width(text) <= pdf.epw - 2 * pdf.c_margin


def _text(
    pdf: FPDF, text: str, *, size: float = BODY, bold: bool = False, line: float = LINE
) -> None:
    pdf.set_font(SANS, "B" if bold else "", size)
    text = french.printable(text)
    if _fits(pdf, text):
        pdf.cell(0, line, text, new_x="LMARGIN", new_y="NEXT")
    else:
        pdf.multi_cell(0, line, text, align="L", new_x="LMARGIN", new_y="NEXT")


def _labelled(pdf: FPDF, label: str, value: str) -> None:
    """`Label : value` with the label in bold, the value wrapping under the margin."""
    value = french.printable(value)
    pdf.set_font(SANS, "B", BODY)
    if _fits(pdf, label + value):  # in bold: an upper bound
        if label:
            pdf.cell(pdf.get_string_width(label), LINE, label)
        pdf.set_font(SANS, "", BODY)
        pdf.cell(0, LINE, value, new_x="LMARGIN", new_y="NEXT")
        return
    pdf.write(LINE, label)
    pdf.set_font(SANS, "", BODY)
    pdf.write(LINE, value)
    pdf.ln(LINE)
