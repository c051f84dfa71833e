"""Issuers' booklets and partners' verifications, redemptions and reversals."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, request

from voucher_service.clock import now
from voucher_service.vouchers import booklets, issuance, redemption
from voucher_service.web.auth import requires
from voucher_service.web.helpers import (
    idempotency,
    json_body,
    json_response,
    outcome_response,
    query_int,
    query_text,
    query_time,
    services,
)
from voucher_service.web.observability import counts_redemptions

blueprint = Blueprint("vouchers", __name__, url_prefix="/v1")


@blueprint.post("/booklets")
@requires("issuer")
def post_booklet() -> Response:
    body = json_body("booklet-create.request")
    svc = services()
    outcome = issuance.issue_booklet(
        svc.database,
        svc.context,
        g.principal,
        body["program_id"],
        body["beneficiary_ref"],
        body.get("size"),
        idempotency(g.principal.id, body),
        now(),
    )
    response = outcome_response(outcome, "/v1/booklets/{id}")
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/booklets")
@requires("issuer", "admin")
def get_booklets() -> Response:
    where = booklets.BookletFilter(
        program_id=query_text("program_id", 36),
        organisation_id=query_text("organisation_id", 36),
        beneficiary_ref=query_text("beneficiary_ref", 200),
    )
    limit, cursor = query_int("limit", 100, 1, 500), query_text("cursor", 200)
    svc = services()
    page = booklets.list_booklets(svc.database, svc.context, g.principal, where, limit, cursor)
    return json_response(page)


@blueprint.get("/booklets/<uuid:booklet_id>")
@requires("issuer", "admin")
def get_booklet(booklet_id: Any) -> Response:
    return json_response(issuance.get_booklet(services().database, g.principal, str(booklet_id)))


@blueprint.post("/vouchers/verify")
@requires("partner")
def post_verify() -> Response:
    body = json_body("voucher-verify.request")
    svc = services()
    view = redemption.verify(
        svc.database,
        svc.context,
        g.principal,
        body.get("token"),
        body.get("code"),
        now(),
        address=request.remote_addr,  # the real client's, behind VOUCHER_SERVICE_TRUSTED_PROXIES
    )
    return json_response(view)


@blueprint.post("/redemptions")
@counts_redemptions
@requires("partner")
def post_redemption() -> Response:
    body = json_body("redemption-create.request")
    svc = services()
    outcome = redemption.redeem(
        svc.database,
        svc.context,
        g.principal,
        body.get("token"),
        body.get("code"),
        body.get("service"),
        idempotency(g.principal.id, body),
        now(),
        address=request.remote_addr,
    )
    return outcome_response(outcome, "/v1/redemptions/{id}")


@blueprint.get("/redemptions/<uuid:redemption_id>")
@requires("partner", "admin", "auditor")
def get_redemption(redemption_id: Any) -> Response:
    view = redemption.get_redemption(services().database, g.principal, str(redemption_id))
    return json_response(view)


@blueprint.post("/redemptions/<uuid:redemption_id>/reversal")
@requires("partner")
def post_reversal(redemption_id: Any) -> Response:
    body = json_body("reversal-create.request")
    svc = services()
    view = redemption.reverse(
        svc.database, svc.context, g.principal, str(redemption_id), body["reason"], now()
    )
    return json_response(view)


@blueprint.get("/redemptions")
@requires("partner", "admin", "auditor")
def get_redemptions() -> Response:
    page = redemption.list_redemptions(
        services().database,
        g.principal,
        query_time("from"),
        query_time("to", day_end=True),
        query_int("limit", 100, 1, 500),
        query_text("cursor", 200),
    )
    return json_response(page)
