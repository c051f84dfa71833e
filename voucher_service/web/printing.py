"""Paper: a booklet's PDF and a voucher's QR code, for its issuer's organisation and the admin.

Each answer carries redeemable tokens (and a PDF the holder's name): none may be kept by a
cache. The holder's name is read from the query and printed; it is never stored, and the
request log names routes, never query strings.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, request

from voucher_service.printing import qr_png, qr_svg
from voucher_service.vouchers import printed
from voucher_service.web.auth import requires
from voucher_service.web.helpers import query_near, services

blueprint = Blueprint("printing", __name__, url_prefix="/v1")

# An SVG is a document that could run script: this one has none, and may load nothing.
SVG_CONTENT_SECURITY_POLICY = "default-src 'none'"


@blueprint.get("/booklets/<uuid:booklet_id>/pdf")
@requires("issuer", "admin")
def get_booklet_pdf(booklet_id: Any) -> Response:
    near = query_near()
    holder = request.args.get("holder")  # checked, length included, by holder_to_print
    svc = services()
    pdf = printed.booklet_pdf(svc.database, svc.context, g.principal, str(booklet_id), near, holder)
    response = _not_kept(Response(pdf, mimetype="application/pdf"))
    response.headers["Content-Disposition"] = f'inline; filename="carnet-{booklet_id.hex[:8]}.pdf"'
    return response


@blueprint.get("/vouchers/<uuid:voucher_id>/qr.svg")
@requires("issuer", "admin")
def get_voucher_qr_svg(voucher_id: Any) -> Response:
    response = Response(qr_svg(_qr_content(voucher_id)), mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = SVG_CONTENT_SECURITY_POLICY
    return _not_kept(response)


@blueprint.get("/vouchers/<uuid:voucher_id>/qr.png")
@requires("issuer", "admin")
def get_voucher_qr_png(voucher_id: Any) -> Response:
    return _not_kept(Response(qr_png(_qr_content(voucher_id)), mimetype="image/png"))


def _qr_content(voucher_id: Any) -> str:
    svc = services()
    return printed.voucher_qr_content(svc.database, svc.context, g.principal, str(voucher_id))


def _not_kept(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response
