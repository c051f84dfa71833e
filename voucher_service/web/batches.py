"""Pre-printed batches: printing them, their PDF, and handing out one booklet at a time.

A batch's answer and its PDF carry redeemable-to-be tokens: neither may be kept by a cache.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g

from voucher_service.clock import now
from voucher_service.vouchers import batches
from voucher_service.web.auth import requires
from voucher_service.web.helpers import (
    idempotency,
    json_body,
    json_response,
    outcome_response,
    services,
)

blueprint = Blueprint("batches", __name__, url_prefix="/v1")


@blueprint.post("/booklet-batches")
@requires("issuer")
def post_booklet_batch() -> Response:
    body = json_body("booklet-batch-create.request")
    svc = services()
    outcome = batches.print_batch(
        svc.database,
        svc.context,
        g.principal,
        body["program_id"],
        body["count"],
        body.get("size"),
        idempotency(g.principal.id, body),
        now(),
    )
    return _not_kept(outcome_response(outcome, "/v1/booklet-batches/{id}"))


@blueprint.get("/booklet-batches/<uuid:batch_id>")
@requires("issuer", "admin")
def get_booklet_batch(batch_id: Any) -> Response:
    return json_response(batches.get_batch(services().database, g.principal, str(batch_id)))


@blueprint.get("/booklet-batches/<uuid:batch_id>/pdf")
@requires("issuer", "admin")
def get_booklet_batch_pdf(batch_id: Any) -> Response:
    svc = services()
    pieces = batches.batch_pdf(svc.database, svc.context, g.principal, str(batch_id))
    # Streamed as it is drawn (chunked): the first booklets reach the printer while the last
    # are still being read.
    response = Response(pieces, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="lot-{batch_id.hex[:8]}.pdf"'
    return _not_kept(response)


@blueprint.post("/booklets/<uuid:booklet_id>/activation")
@requires("issuer")
def post_booklet_activation(booklet_id: Any) -> Response:
    body = json_body("booklet-activation.request")
    svc = services()
    view = batches.activate_booklet(
        svc.database, svc.context, g.principal, str(booklet_id), body["beneficiary_ref"], now()
    )
    return json_response(view)


def _not_kept(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response
