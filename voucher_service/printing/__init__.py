"""Paper: booklets of vouchers as PDF, and a voucher's QR code as SVG or PNG.

Pure rendering: the callers gather the values (`model`), this package draws them.
"""

from voucher_service.printing.batch import render_batch
from voucher_service.printing.booklet import draw_booklet, new_document, render_booklet
from voucher_service.printing.model import PrintedBooklet, PrintedVoucher, Venue
from voucher_service.printing.qr import qr_matrix, qr_png, qr_svg
from voucher_service.printing.sheet import QrTooDense

__all__ = [
    "PrintedBooklet",
    "PrintedVoucher",
    "QrTooDense",
    "Venue",
    "draw_booklet",
    "new_document",
    "qr_matrix",
    "qr_png",
    "qr_svg",
    "render_batch",
    "render_booklet",
]
