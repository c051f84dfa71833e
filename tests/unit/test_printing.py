"""Printed booklets, read back as a scanner and a reader would: pdftoppm renders the pages at a
cheap scanner's 150 dpi, zxing-cpp reads the QR codes, pdftotext reads the words."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from io import BytesIO
from pathlib import Path

import pytest
import qrcode
import zxingcpp
from fontTools import ttLib
from PIL import Image

from voucher_service.keys import _new_signing_key
from voucher_service.printing import (
    PrintedBooklet,
    PrintedVoucher,
    QrTooDense,
    Venue,
    french,
    qr_matrix,
    qr_png,
    qr_svg,
    render_batch,
    render_booklet,
)
from voucher_service.printing.batch import _Part
from voucher_service.printing.bench import CREATED_AT as BENCH_CREATED_AT
from voucher_service.printing.bench import sample_booklet
from voucher_service.printing.cover import STEPS
from voucher_service.printing.qr import QUIET_ZONE, dark_runs
from voucher_service.printing.sheet import CELL_H, CELL_W, INSET
from voucher_service.printing.typefaces import FACES, FONT_DIR
from voucher_service.vouchers.codes import derive_code, format_code
from voucher_service.vouchers.tokens import new_jti, sign_voucher

poppler = pytest.mark.skipif(
    shutil.which("pdftoppm") is None and os.environ.get("CI") != "true",
    reason="poppler-utils (pdftoppm, pdftotext) is not installed; CI installs it",
)

KEY = _new_signing_key(set())
CREATED = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
DPI = 150  # a cheap scan
MM = 72 / 25.4  # points a millimetre
VENUES = (
    Venue("Tiers-lieu Le Garage numérique", "12 rue de la Boucherie, Limoges", "87000",
          ("atelier-smartphone", "demarches-en-ligne"), 1.234, "Du mardi au samedi, 10 h – 18 h"),
    Venue("Médiathèque francophone", "2 place Aimé Césaire, Limoges", "87000",
          ("atelier-ordinateur",), 2.5),
    Venue("Association Clic Saint-Junien", "5 avenue Henri Barbusse, Saint-Junien", "87200",
          ("atelier-smartphone", "cafe-numerique"), 28.04, "Lundi et jeudi après-midi"),
    Venue("Espace public numérique de la Bastide", "14 boulevard de la Bastide, Limoges", "87100",
          ("atelier-tablette",), 3.9),
    Venue("Centre social Œuvre des Jeunes", "1 allée des Cèdres, Isle", "87170",
          ("atelier-ordinateur", "demarches-en-ligne"), 6.0, "Mercredi 14 h – 17 h"),
    Venue("Sixième lieu, trop loin", "1 place de la Mairie, Aixe-sur-Vienne", "87700", (), 12.0),
)  # fmt: skip


def make_booklet(
    size: int = 12, holder: str | None = "Mme Zoé Lefèvre", **fields: object
) -> PrintedBooklet:
    expires = datetime(2027, 12, 31, 23, 59, 59, tzinfo=UTC)
    vouchers = []
    for position in range(1, size + 1):
        jti = new_jti()
        token = sign_voucher(KEY, "https://pass.example.fr", jti, "CDF1", 1000, expires)
        vouchers.append(
            PrintedVoucher(id=f"v{position}", code=format_code(derive_code(b"secret", jti)),
                           qr_content=f"https://pass.example.fr/r#{token}",
                           position=position, of=size)
        )  # fmt: skip
    # The bench's booklet, with really signed tokens, a holder and six venues.
    booklet = replace(sample_booklet(0), holder=holder, venues=VENUES, vouchers=tuple(vouchers))
    return replace(booklet, **fields)


@pytest.fixture(scope="module")
def booklet() -> PrintedBooklet:
    return make_booklet()


@pytest.fixture(scope="module")
def booklet_pdf(booklet: PrintedBooklet) -> bytes:
    return render_booklet(booklet, created_at=CREATED)


def poppler_run(tool: str, pdf: bytes, *args: str) -> bytes:
    """Run a poppler tool on the document; it must not complain about it."""
    with tempfile.NamedTemporaryFile(suffix=".pdf") as file:
        file.write(pdf)
        file.flush()
        output = ["-"] if tool == "pdftotext" else []
        done = subprocess.run([tool, *args, file.name, *output], capture_output=True, check=True)
    assert done.stderr == b"", done.stderr
    return done.stdout


def rasterise(pdf: bytes, tmp_path: Path, page: int, dpi: int = DPI) -> Image.Image:
    prefix = tmp_path / f"page-{page}-{dpi}"
    pdf_file = tmp_path / "document.pdf"
    pdf_file.write_bytes(pdf)
    done = subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-gray", "-png", "-f", str(page), "-l", str(page),
         "-singlefile", str(pdf_file), str(prefix)],
        capture_output=True, check=True,
    )  # fmt: skip
    assert done.stderr == b"", done.stderr
    return Image.open(f"{prefix}.png").convert("L")


def text_of(pdf: bytes, *args: str) -> str:
    return poppler_run("pdftotext", pdf, *args).decode().replace("\u00a0", " ")


def page_count(pdf: bytes) -> int:
    info = poppler_run("pdfinfo", pdf).decode()
    return int(re.search(r"^Pages:\s+(\d+)$", info, re.M).group(1))  # type: ignore[union-attr]


def scan(image: Image.Image) -> list[zxingcpp.Barcode]:
    return zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)


def cell_of(barcode: zxingcpp.Barcode, dpi: int = DPI) -> int:
    """Which of the page's ten places (0 to 9, left to right, top to bottom) a code sits in."""
    corners = [barcode.position.top_left, barcode.position.bottom_right]
    x_mm = sum(point.x for point in corners) / 2 / dpi * 25.4
    y_mm = sum(point.y for point in corners) / 2 / dpi * 25.4
    return int(y_mm // CELL_H) * 2 + int(x_mm // CELL_W)


# The QR codes on paper


@poppler
def test_every_qr_code_scans_back_to_its_own_voucher_at_150_dpi(
    booklet: PrintedBooklet, booklet_pdf: bytes, tmp_path: Path
) -> None:
    for page, on_page in ((2, booklet.vouchers[:10]), (3, booklet.vouchers[10:])):
        found = scan(rasterise(booklet_pdf, tmp_path, page))
        assert len(found) == len(on_page)
        for barcode in found:
            assert barcode.text == on_page[cell_of(barcode)].qr_content
            assert barcode.ec_level == "Q"


@poppler
def test_a_scanned_code_has_every_module_where_the_matrix_puts_it_and_a_blank_quiet_zone(
    booklet: PrintedBooklet, booklet_pdf: bytes, tmp_path: Path
) -> None:
    """Not mirrored, not turned, nothing drawn over it or around it."""
    image = rasterise(booklet_pdf, tmp_path, 2, dpi=300)
    for barcode in scan(image):
        matrix = qr_matrix(booklet.vouchers[cell_of(barcode, 300)].qr_content)
        symbol = matrix.size - 2 * QUIET_ZONE
        left, top = barcode.position.top_left.x, barcode.position.top_left.y
        pitch = (barcode.position.top_right.x - left) / symbol
        for row in range(-QUIET_ZONE, symbol + QUIET_ZONE):
            for column in range(-QUIET_ZONE, symbol + QUIET_ZONE):
                x, y = left + (column + 0.5) * pitch, top + (row + 0.5) * pitch
                dark = image.getpixel((round(x), round(y))) < 128  # type: ignore[operator]
                assert dark == matrix.rows[row + QUIET_ZONE][column + QUIET_ZONE], (row, column)


@poppler
def test_a_module_measures_at_least_half_a_millimetre_on_paper(
    booklet: PrintedBooklet, booklet_pdf: bytes, tmp_path: Path
) -> None:
    for barcode in scan(rasterise(booklet_pdf, tmp_path, 2)):
        modules = 17 + 4 * int(barcode.extra["Version"])
        width_px = barcode.position.top_right.x - barcode.position.top_left.x
        assert width_px / modules / DPI * 25.4 >= 0.5


def test_the_pdf_draws_each_code_as_one_rectangle_a_run_at_half_a_millimetre_or_more(
    booklet: PrintedBooklet, booklet_pdf: bytes
) -> None:
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", booklet_pdf, re.S)
    content = b"".join(zlib.decompress(stream) for stream in streams if stream[:1] == b"x")
    codes = re.findall(rb"q 0 g ([\d.]+) 0 0 -([\d.]+) [\d.]+ [\d.]+ cm\n(.*?)\nf Q", content, re.S)
    assert len(codes) == len(booklet.vouchers)
    for (scale_x, scale_y, runs), voucher in zip(codes, booklet.vouchers, strict=True):
        assert float(scale_x) == float(scale_y) >= 0.5 * MM
        drawn = [tuple(map(int, run.split()[:3])) for run in runs.split(b"\n")]
        matrix = qr_matrix(voucher.qr_content)
        assert drawn == [(run.column, run.row, run.length) for run in dark_runs(matrix)]


def test_a_code_too_long_for_the_paper_is_refused() -> None:
    dense = make_booklet(size=1)
    dense = replace(dense, vouchers=(replace(dense.vouchers[0], qr_content="x" * 900),))
    with pytest.raises(QrTooDense):
        render_booklet(dense, created_at=CREATED)


# The words on paper


@poppler
def test_every_voucher_shows_its_code_value_expiry_programme_funder_and_place(
    booklet: PrintedBooklet, booklet_pdf: bytes
) -> None:
    sheet = text_of(booklet_pdf, "-f", "2", "-l", "2", "-layout")
    flat = " ".join(text_of(booklet_pdf, "-f", "2", "-l", "2").split())
    for voucher in booklet.vouchers[:10]:
        assert voucher.code in sheet
        assert f"{voucher.position}/12" in sheet
    assert sheet.count("10,00 €") == 10
    assert sheet.count("Valable jusqu'au 31/12/2027") == 10
    assert flat.count("Pass numérique Cœur de France") == 10
    assert flat.count("Financé par Conseil départemental de la Haute-Vienne") == 10


@poppler
def test_the_cover_letter_reads_in_whole_french(booklet_pdf: bytes) -> None:
    letter = " ".join(text_of(booklet_pdf, "-f", "1", "-l", "1").split())
    assert "Programme : Pass numérique Cœur de France" in letter
    assert "Financé par : Conseil départemental de la Haute-Vienne" in letter
    assert "Chèques remis à : Mme Zoé Lefèvre" in letter
    assert "Ce carnet contient 12 chèques. Un chèque vaut 10,00 € et paie un atelier." in letter
    assert "Vos chèques sont valables jusqu'au 31 décembre 2027." in letter
    assert all(step.replace("\u00a0", " ") in letter for step in STEPS)


@poppler
def test_the_cover_letter_lists_the_five_first_venues_given_in_their_order(
    booklet_pdf: bytes,
) -> None:
    letter = " ".join(text_of(booklet_pdf, "-f", "1", "-l", "1").split())
    places = [letter.index(venue.name) for venue in VENUES[:5]]
    assert places == sorted(places)
    assert VENUES[5].name not in letter
    assert "Tiers-lieu Le Garage numérique — à 1,2 km" in letter
    assert "12 rue de la Boucherie, Limoges (87000)" in letter
    assert "Propose : Atelier smartphone, Démarches en ligne" in letter
    assert "Propose : Atelier smartphone, cafe-numerique" in letter  # unknown: shown as given
    assert "Horaires : Du mardi au samedi, 10 h – 18 h" in letter


@poppler
def test_the_holder_is_named_only_when_given() -> None:
    pdf = render_booklet(make_booklet(size=2, holder=None), created_at=CREATED)
    assert "remis à" not in text_of(pdf, "-f", "1", "-l", "1")


@poppler
def test_long_names_stay_inside_their_voucher_and_the_letter_on_its_page() -> None:
    long = "Programme départemental d'inclusion numérique des aînés et des familles " * 2
    venues = tuple(
        replace(venue, name=f"{venue.name} et son annexe intercommunale",
                opening_hours="Lundi, mardi, jeudi et vendredi de 9 h à 12 h et de 14 h à 18 h")
        for venue in VENUES
    )  # fmt: skip
    pdf = render_booklet(
        make_booklet(program_name=long, funder=long, holder=long, venues=venues),
        created_at=CREATED,
    )
    assert page_count(pdf) == 3
    for page, word in words(pdf):
        if page == 1:
            assert word["xMin"] >= 15 * MM and word["xMax"] <= (210 - 15) * MM
            assert word["yMax"] <= (297 - 15) * MM
        elif word["text"] != "✂":
            column, row = int(word["xMin"] // (CELL_W * MM)), int(word["yMin"] // (CELL_H * MM))
            assert word["xMax"] <= ((column + 1) * CELL_W - INSET) * MM + 0.5, word
            assert word["yMax"] <= ((row + 1) * CELL_H - INSET + 1) * MM, word


def words(pdf: bytes) -> Iterator[tuple[int, dict[str, float | str]]]:
    """(page, {xMin, yMin, xMax, yMax in points, text}) for each word pdftotext finds."""
    html = text_of(pdf, "-bbox")
    for page, body in enumerate(html.split("<page ")[1:], start=1):
        for found in re.finditer(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>',
            body,
        ):
            box = dict(
                zip(("xMin", "yMin", "xMax", "yMax"), map(float, found.groups()[:4]), strict=True)
            )
            yield page, {**box, "text": found.group(5)}


# Reprints and batches


def test_a_reprint_is_the_same_document_byte_for_byte(
    booklet: PrintedBooklet, booklet_pdf: bytes
) -> None:
    assert render_booklet(booklet, created_at=CREATED) == booklet_pdf
    assert render_booklet(booklet, created_at=datetime(2026, 2, 1, tzinfo=UTC)) != booklet_pdf


def test_a_reprint_in_another_process_is_the_same_document_byte_for_byte() -> None:
    """Nothing in the bytes depends on the process: not the clock, not the hash seed."""
    reprint = (
        "import sys; from voucher_service.printing.bench import CREATED_AT, sample_booklet; "
        "from voucher_service.printing import render_booklet; "
        "sys.stdout.buffer.write(render_booklet(sample_booklet(7), created_at=CREATED_AT))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run([sys.executable, "-c", reprint], env=env, capture_output=True, check=True)
    assert done.stdout == render_booklet(sample_booklet(7), created_at=BENCH_CREATED_AT)


@poppler
def test_a_batch_is_one_pdf_of_every_booklet_in_order(tmp_path: Path) -> None:
    booklets = [make_booklet(size=3, holder=None) for _ in range(5)]
    pieces = list(render_batch(booklets, created_at=CREATED, booklets_per_part=2))
    pdf = b"".join(pieces)
    assert len(pieces) == 3 + 1  # three parts, then the page tree and cross-references
    assert page_count(pdf) == 10
    _Part(pdf)  # every object where the cross-reference table says
    for number, booklet in enumerate(booklets, start=1):
        sheet = text_of(pdf, "-f", str(2 * number), "-l", str(2 * number))
        assert [voucher.code in sheet for voucher in booklet.vouchers] == [True] * 3
    found = scan(rasterise(pdf, tmp_path, 10))
    assert sorted(code.text for code in found) == sorted(
        voucher.qr_content for voucher in booklets[4].vouchers
    )
    again = b"".join(render_batch(booklets, created_at=CREATED, booklets_per_part=2))
    assert again == pdf


def test_a_batch_sends_its_first_part_before_reading_the_next_booklets() -> None:
    read = []

    def booklets() -> Iterator[PrintedBooklet]:
        for serial in range(6):
            read.append(serial)
            yield make_booklet(size=1, holder=None)

    pieces = render_batch(booklets(), created_at=CREATED, booklets_per_part=2)
    assert next(pieces).startswith(b"%PDF-1.")
    assert read == [0, 1]


def test_an_empty_batch_is_refused() -> None:
    with pytest.raises(ValueError, match="no booklet"):
        b"".join(render_batch([], created_at=CREATED))


# QR codes on their own


def test_a_qr_code_is_level_q_with_a_quiet_zone_at_the_smallest_version(
    booklet: PrintedBooklet,
) -> None:
    content = booklet.vouchers[0].qr_content
    matrix = qr_matrix(content)
    assert matrix.version <= 16
    blank = (False,) * matrix.size
    assert matrix.rows[:QUIET_ZONE] == matrix.rows[-QUIET_ZONE:] == (blank,) * QUIET_ZONE
    assert not any(any(row[:QUIET_ZONE] + row[-QUIET_ZONE:]) for row in matrix.rows)
    smaller = qrcode.QRCode(version=matrix.version - 1, error_correction=qrcode.ERROR_CORRECT_Q)
    smaller.add_data(content)
    with pytest.raises(qrcode.exceptions.DataOverflowError):
        smaller.make(fit=False)


def test_the_svg_is_one_path_of_the_dark_runs_in_modules(booklet: PrintedBooklet) -> None:
    content = booklet.vouchers[0].qr_content
    svg, matrix = qr_svg(content), qr_matrix(content)
    assert f'viewBox="0 0 {matrix.size} {matrix.size}"' in svg
    assert 'shape-rendering="crispEdges"' in svg
    assert svg.count("<path") == 1
    path = re.search(r'<path[^>]* d="([^"]+)"', svg).group(1)  # type: ignore[union-attr]
    dark = {
        (int(row), int(column) + step)
        for column, row, length in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\d+z", path)
        for step in range(int(length))
    }
    assert dark == {
        (r, c) for r, row in enumerate(matrix.rows) for c, module in enumerate(row) if module
    }


def test_the_png_is_one_bit_gray_and_scans(booklet: PrintedBooklet) -> None:
    content = booklet.vouchers[0].qr_content
    matrix = qr_matrix(content)
    image = Image.open(BytesIO(qr_png(content, scale=4)))
    assert (image.mode, image.size) == ("1", (matrix.size * 4, matrix.size * 4))
    assert [barcode.text for barcode in scan(image)] == [content]
    for r, row in enumerate(matrix.rows):
        for c, module in enumerate(row):
            assert (image.getpixel((c * 4 + 2, r * 4 + 2)) == 0) == module


@pytest.mark.parametrize("scale", [0, 41])
def test_a_png_scale_out_of_bounds_is_refused(scale: int) -> None:
    with pytest.raises(ValueError, match="scale"):
        qr_png("https://pass.example.fr/r#x", scale=scale)


# French


def test_amounts_dates_distances_and_services_read_as_french() -> None:
    assert french.amount(1000) == "10,00\u00a0€"
    assert french.amount(123456) == "1\u202f234,56\u00a0€"
    assert french.amount(1050, "CHF") == "10,50\u00a0CHF"
    assert french.long_date(date(2027, 12, 31)) == "31 décembre 2027"
    assert french.long_date(date(2028, 2, 1)) == "1er février 2028"
    assert french.short_date(date(2027, 1, 5)) == "05/01/2027"
    assert french.distance(1.234) == "à\u00a01,2\u00a0km"
    assert french.service_label("demarches-en-ligne") == "Démarches en ligne"
    assert french.service_label("cafe-numerique") == "cafe-numerique"


def test_the_shipped_typefaces_have_every_character_we_print_and_their_licence() -> None:
    ours = "".join(STEPS) + "".join(french.MONTHS) + "€œŒàâçéèêëîïôùûüÿæÆ«»’–—…\u00a0\u202f✂"
    for file_name, _, _, _ in FACES:
        with ttLib.TTFont(FONT_DIR / file_name) as font:
            cmap = set(font.getBestCmap())
        wanted = "0123456789ABCDEFGHJKMNPQRSTVWXYZ-/" if "Mono" in file_name else ours
        assert {ord(char) for char in wanted} <= cmap, file_name
    assert "Bitstream Vera" in (FONT_DIR / "LICENSE").read_text()


def test_a_batch_drawn_in_two_processes_is_the_same_document() -> None:
    """Parts drawn side by side come back in order: the same bytes as drawn one by one."""
    from voucher_service.printing import render_batch
    from voucher_service.printing.bench import CREATED_AT, sample_booklet

    booklets = [sample_booklet(serial, size=2) for serial in range(5)]
    alone = b"".join(render_batch(booklets, created_at=CREATED_AT, booklets_per_part=1))
    aside = render_batch(booklets, created_at=CREATED_AT, booklets_per_part=1, processes=2)
    assert b"".join(aside) == alone
    assert alone.count(b"/Type /Page\n") + alone.count(b"/Type /Page ") >= 5
