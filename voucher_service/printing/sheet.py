"""The voucher sheets: ten vouchers to an A4 page, two columns of five, with cut lines."""

from __future__ import annotations

import math

from fpdf import FPDF

from voucher_service.printing import french
from voucher_service.printing.model import PrintedBooklet, PrintedVoucher
from voucher_service.printing.qr import QrMatrix, dark_runs, qr_matrix
from voucher_service.printing.typefaces import MONO, SANS, wrapped

COLUMNS, ROWS = 2, 5
PER_PAGE = COLUMNS * ROWS
PAGE_W, PAGE_H = 210.0, 297.0  # mm
CELL_W, CELL_H = PAGE_W / COLUMNS, PAGE_H / ROWS  # 105 × 59.4 mm: one cut makes two
# Office printers leave 4-5 mm of every edge blank: nothing is drawn there, and the same
# inset inside every cell keeps the quiet zones clear of the cut lines.
INSET = 5.0
MIN_MODULE = 0.5  # mm: the smallest module a phone reads from paper at arm's length
MAX_MODULE = 0.6  # mm: past this the code only takes room from the text
PT = 72 / 25.4  # points a millimetre
GRAY = 110  # cut lines: visible, and lighter than anything to read


class QrTooDense(ValueError):
    """The QR code would need modules smaller than a phone reads reliably from paper."""


# Lines that wrapping a text gave, by (text, style, size, width): every voucher of a booklet
# has the same programme and funder, and wrapping is the dearest thing fpdf2 does here.
Wraps = dict[tuple[str, str, float, float], list[str]]


def draw_voucher_sheets(pdf: FPDF, booklet: PrintedBooklet) -> None:
    vouchers, wraps = booklet.vouchers, Wraps()
    for first in range(0, len(vouchers), PER_PAGE):
        on_page = vouchers[first : first + PER_PAGE]
        pdf.add_page()
        _cut_lines(pdf, len(on_page))
        for index, voucher in enumerate(on_page):
            column, row = index % COLUMNS, index // COLUMNS
            _voucher(pdf, booklet, voucher, (column * CELL_W, row * CELL_H), wraps)


def module_size(matrix: QrMatrix) -> float:
    """Millimetres a module: as large as the cell allows, up to MAX_MODULE."""
    size = min(MAX_MODULE, (CELL_H - 2 * INSET) / matrix.size)
    if size < MIN_MODULE:
        raise QrTooDense(f"a version {matrix.version} code would need {size:.2f} mm modules")
    return size


def _voucher(
    pdf: FPDF,
    booklet: PrintedBooklet,
    voucher: PrintedVoucher,
    corner: tuple[float, float],
    wraps: Wraps,
) -> None:
    left, top = corner
    matrix = qr_matrix(voucher.qr_content)
    module = module_size(matrix)
    side = module * matrix.size
    qr_top = top + (CELL_H - side) / 2
    draw_qr(pdf, matrix, left + INSET, qr_top, module)
    # The text column: right of the symbol's quiet zone, as high as the cell allows.
    x, width = left + INSET + side, CELL_W - 2 * INSET - side
    _details(pdf, booklet, x, top + INSET, width, wraps)
    _footer(pdf, booklet, voucher, x, top + CELL_H - INSET, width)


def draw_qr(pdf: FPDF, matrix: QrMatrix, x: float, y: float, module: float) -> None:
    """The symbol as one filled path: one rectangle for each run of dark modules, drawn in
    module units under a transformation (no seams between rows, a few bytes a run)."""
    ops = [f"q 0 g {module * PT:.4f} 0 0 {-module * PT:.4f} {x * PT:.4f} {(pdf.h - y) * PT:.4f} cm"]
    ops.extend(f"{run.column} {run.row} {run.length} 1 re" for run in dark_runs(matrix))
    ops.append("f Q")
    # fpdf2's rect() costs 25 µs a call and a code has 1,500 runs: the operators go straight
    # onto the page, inside q/Q so that fpdf2's own graphics state is left as it was.
    pdf._out("\n".join(ops))


def _details(
    pdf: FPDF, booklet: PrintedBooklet, x: float, y: float, width: float, wraps: Wraps
) -> None:
    """The programme, its funder and the voucher's value, from the top of the column."""
    _block(pdf, (x, y, width), booklet.program_name, wraps, size=9.5, bold=True, lines=2)
    funder = f"Financé par {booklet.funder}"
    _block(pdf, (x, pdf.get_y(), width), funder, wraps, size=8, lines=3)
    value = french.amount(booklet.face_value_cents, booklet.currency)
    box = (x, pdf.get_y() + 0.8, width)
    _block(pdf, box, value, wraps, size=20, bold=True, lines=1, line=8.5)


def _footer(
    pdf: FPDF,
    booklet: PrintedBooklet,
    voucher: PrintedVoucher,
    x: float,
    bottom: float,
    width: float,
) -> None:
    """The expiry, the voucher's place and its code (typed in when the camera fails), down to
    the bottom of the column."""
    expiry = f"Valable jusqu'au {french.short_date(booklet.valid_until)}"
    _line(pdf, x, bottom - 16.5, width, expiry, SANS, "B", 8.5)
    pdf.set_font(SANS, "", 7.5)
    pdf.set_xy(x, bottom - 11.5)
    pdf.cell(width, 3.5, "Code :")
    pdf.set_font(SANS, "B", 9)
    pdf.set_xy(x, bottom - 11.5)
    pdf.cell(width, 3.5, f"{voucher.position}/{voucher.of}", align="R")
    _line(pdf, x, bottom - 7.5, width, voucher.code, MONO, "", 11.5, height=7.5)


def _line(
    pdf: FPDF,
    x: float,
    y: float,
    width: float,
    text: str,
    family: str,
    style: str,
    size: float,
    height: float = 4,
) -> None:
    """One line of text at `size` points, or smaller if that is what it takes to fit."""
    pdf.set_font(family, style, size)
    fitting = min(size, size * (width - 2 * pdf.c_margin) / pdf.get_string_width(text))
    pdf.set_font(family, style, fitting)
    pdf.set_xy(x, y)
    pdf.cell(width, height, text)


def _block(
    pdf: FPDF,
    box: tuple[float, float, float],
    text: str,
    wraps: Wraps,
    *,
    size: float,
    bold: bool = False,
    lines: int,
    line: float | None = None,
) -> None:
    """At most `lines` lines of `text` from (x, y), `width` wide, the last one cut with an
    ellipsis if it runs over."""
    x, y, width = box
    style = "B" if bold else ""
    pdf.set_font(SANS, style, size)
    key = (text, style, size, width)
    if key not in wraps:
        wraps[key] = _wrap(pdf, french.printable(text), width, lines)
    pdf.set_xy(x, y)
    for text_line in wraps[key]:
        pdf.set_x(x)
        pdf.cell(width, line or size * 0.45, text_line, new_x="LEFT", new_y="NEXT")


def _wrap(pdf: FPDF, text: str, width: float, lines: int) -> list[str]:
    all_lines = wrapped(pdf, width, text)
    if len(all_lines) <= lines:
        return all_lines
    last = all_lines[lines - 1]
    while last and pdf.get_string_width(last + "…") > width - 2 * pdf.c_margin:
        last = last[:-1]
    return [*all_lines[: lines - 1], last.rstrip() + "…"]


def _cut_lines(pdf: FPDF, count: int) -> None:
    """Dashed lines between the vouchers of the page, and a pair of scissors on each."""
    rows = math.ceil(count / COLUMNS)
    pdf.set_draw_color(GRAY)
    pdf.set_line_width(0.25)
    pdf.set_dash_pattern(dash=2.5, gap=1.5)
    pdf.line(CELL_W, 0, CELL_W, rows * CELL_H)
    for row in range(1, min(rows + 1, ROWS)):
        pdf.line(0, row * CELL_H, PAGE_W, row * CELL_H)
    pdf.set_dash_pattern()
    pdf.set_text_color(GRAY)
    pdf.set_fill_color(255)
    pdf.set_font(SANS, "", 11)
    for row in range(1, min(rows + 1, ROWS)):
        pdf.set_xy(INSET + 1, row * CELL_H - 2.5)
        pdf.cell(5, 5, "✂", fill=True)
    pdf.set_text_color(0)
    pdf.set_draw_color(0)
