"""A voucher's QR code as a module matrix, and drawn from it: SVG, PNG, runs for the PDF."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import qrcode
from qrcode.constants import ERROR_CORRECT_Q

QUIET_ZONE = 4  # modules of white around the symbol, as ISO/IEC 18004 asks
MAX_PNG_SCALE = 40  # pixels a module: beyond, an image only grows
# The mask is fixed rather than chosen by scoring all eight: a signed token's bits look random,
# and on them every mask scores within a few percent of the best one (mask 2: 4 % above it on
# average, 12 % at worst over 60 tokens), while scoring eight costs 45 ms a code instead of 9.
MASK_PATTERN = 2
_DARK = re.compile(b"\x01+")


@dataclass(frozen=True)
class QrMatrix:
    """The modules of a QR symbol, quiet zone included; True is dark."""

    version: int
    rows: tuple[tuple[bool, ...], ...]

    @property
    def size(self) -> int:
        """Modules a side, quiet zone included."""
        return len(self.rows)


class Run(NamedTuple):
    """Dark modules side by side on one row: one rectangle when drawn (a tuple: a code has
    some 1,500 of them, and a frozen dataclass costs three times as much to make)."""

    row: int
    column: int
    length: int


def qr_matrix(content: str) -> QrMatrix:
    """Level Q (a quarter of the symbol may be lost to a crease or a stain), the smallest
    version that holds `content`, and the quiet zone."""
    code = qrcode.QRCode(
        error_correction=ERROR_CORRECT_Q,
        border=QUIET_ZONE,
        box_size=1,
        mask_pattern=MASK_PATTERN,
    )
    code.add_data(content)
    code.make(fit=True)
    rows = tuple(tuple(bool(module) for module in row) for row in code.get_matrix())
    return QrMatrix(version=code.version, rows=rows)


def dark_runs(matrix: QrMatrix) -> Iterator[Run]:
    """Each horizontal run of dark modules, row by row, left to right."""
    for row_index, row in enumerate(matrix.rows):
        for found in _DARK.finditer(bytes(row)):  # True is byte 1
            yield Run(row_index, found.start(), found.end() - found.start())


def qr_svg(content: str) -> str:
    """An SVG of the code, in modules: a white square and one path of dark runs, drawn with
    crisp edges so that no renderer blurs the modules into each other."""
    matrix = qr_matrix(content)
    path = "".join(
        f"M{run.column} {run.row}h{run.length}v1h-{run.length}z" for run in dark_runs(matrix)
    )
    side = matrix.size
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {side} {side}" '
        f'shape-rendering="crispEdges">'
        f'<rect width="{side}" height="{side}" fill="#fff"/>'
        f'<path fill="#000" d="{path}"/></svg>'
    )


def qr_png(content: str, scale: int = 8) -> bytes:
    """A 1-bit grayscale PNG of the code, `scale` pixels a module; written with zlib alone."""
    if not 1 <= scale <= MAX_PNG_SCALE:
        raise ValueError(f"scale is between 1 and {MAX_PNG_SCALE} pixels a module, not {scale}")
    matrix = qr_matrix(content)
    side = matrix.size * scale
    lines = bytearray()
    for row in matrix.rows:
        # In 1-bit grayscale, 1 is white: a dark module is a 0 bit.
        bits = "".join(("0" if dark else "1") * scale for dark in row)
        bits += "1" * (-len(bits) % 8)
        packed = int(bits, 2).to_bytes(len(bits) // 8, "big")
        lines += (b"\x00" + packed) * scale  # filter type 0 on every line
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(bytes(lines), 9))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
