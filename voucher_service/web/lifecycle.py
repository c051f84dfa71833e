"""The end of vouchers' lives: lost booklets (cancellation, reissue), expiry, more budget."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import Blueprint, Response, g

from voucher_service.clock import now
from voucher_service.programs import allocations, closing
from voucher_service.vouchers import expiry, lost
from voucher_service.web.auth import requires
from voucher_service.web.helpers import (
    created,
    download,
    idempotency,
    json_body,
    json_response,
    outcome_response,
    query_int,
    services,
)

blueprint = Blueprint("lifecycle", __name__)


@blueprint.post("/v1/booklets/<uuid:booklet_id>/cancellation")
@requires("issuer", "admin")
def post_booklet_cancellation(booklet_id: Any) -> Response:
    body = json_body("booklet-cancellation.request")
    view = lost.cancel_booklet(
        services().database, g.principal, str(booklet_id), body["reason"], now()
    )
    return json_response(view)


@blueprint.post("/v1/booklets/<uuid:booklet_id>/reissue")
@requires("issuer")
def post_booklet_reissue(booklet_id: Any) -> Response:
    svc = services()
    outcome = lost.reissue_booklet(
        svc.database,
        svc.context,
        g.principal,
        str(booklet_id),
        idempotency(g.principal.id, {}),  # no body: the path names all it asks for
        now(),
    )
    response = outcome_response(outcome, "/v1/booklets/{id}")
    response.headers["Cache-Control"] = "no-store"  # its tokens can be redeemed
    return response


@blueprint.get("/v1/programs/<uuid:program_id>/expiring")
@requires("admin", "auditor", "issuer")
def get_expiring(program_id: Any) -> Response:
    within_days = query_int("within_days", 30, 1, expiry.MAX_WITHIN_DAYS)
    view = expiry.expiring_vouchers(
        services().database, g.principal, str(program_id), within_days, now()
    )
    return json_response(view)


@blueprint.get("/v1/programs/<uuid:program_id>/closing-statement")
@requires("admin", "auditor")
def get_closing_statement(program_id: Any) -> Response:
    return json_response(closing.closing_statement(services().database, str(program_id), now()))


@blueprint.get("/v1/programs/<uuid:program_id>/closing-statement.pdf")
@requires("admin", "auditor")
def get_closing_statement_pdf(program_id: Any) -> Response:
    return closing_pdf_response(program_id, "inline")


def closing_pdf_response(program_id: UUID, disposition: str) -> Response:
    """The closing statement's one-page PDF, to show (`inline`) or to save."""
    document = closing.closing_statement_pdf(services().database, str(program_id), now())
    name = f"releve-de-cloture-{program_id.hex[:8]}.pdf"
    return download(document, "application/pdf", name, disposition)


@blueprint.post("/v1/programs/<uuid:program_id>/allocations")
@requires("admin")
def post_allocation(program_id: Any) -> Response:
    body = json_body("allocation-create.request")
    allocation = allocations.allocate(
        services().database, str(program_id), body["amount_cents"], body["reference"], now()
    )
    # The allocation is its ledger entry: that is where it lives.
    return created(allocation, "/v1/ledger/entries/{id}")
