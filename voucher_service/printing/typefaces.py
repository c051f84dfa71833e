"""The typefaces a booklet is printed in: DejaVu, cut down to the scripts we print, shipped here.

fpdf2 parses a font for every document and subsets it again at output: the whole DejaVu Sans
(6,000 glyphs) costs some 0.3 s a document, the Latin, Greek and Cyrillic cut shipped here
(1,400 glyphs) a third of that. `python -m voucher_service.printing.fontcut` cuts them again
from Debian's `fonts-dejavu-core`.
"""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF

FONT_DIR = Path(__file__).resolve().parent / "fonts"
SANS = "dejavu-sans"
MONO = "dejavu-mono"

# What names, addresses and programme titles may hold: Latin (with Vietnamese), Greek,
# Cyrillic, their combining accents, punctuation, currencies and a few symbols.
TEXT_REPERTOIRE = (
    *range(0x20, 0x7F),
    *range(0xA0, 0x250),
    *range(0x2B0, 0x370),
    *range(0x370, 0x530),
    *range(0x1E00, 0x1F00),
    *range(0x2000, 0x2070),
    *range(0x20A0, 0x20C1),
    *range(0x2100, 0x2150),
    0x2702,  # ✂ on the cut lines
    0xFFFD,
)
# Codes and places in the booklet: ASCII is enough.
CODE_REPERTOIRE = tuple(range(0x20, 0x7F))

# (file shipped, family, style, repertoire); the source file in fonts-dejavu-core has the
# same name without "-print".
FACES = (
    ("DejaVuSans-print.ttf", SANS, "", TEXT_REPERTOIRE),
    ("DejaVuSans-Bold-print.ttf", SANS, "B", TEXT_REPERTOIRE),
    ("DejaVuSansMono-print.ttf", MONO, "", CODE_REPERTOIRE),
)


def add_typefaces(pdf: FPDF) -> None:
    """Make the booklet's faces available to `pdf` (fpdf2 embeds only the glyphs used)."""
    for file_name, family, style, _ in FACES:
        pdf.add_font(family, style, FONT_DIR / file_name)


def wrapped(pdf: FPDF, width: float, text: str) -> list[str]:
    """The lines `text` takes in the current font when wrapped at `width` mm."""
    lines = pdf.multi_cell(width, 1, text, dry_run=True, output="LINES")
    assert isinstance(lines, list)  # what output="LINES" returns
    return lines
