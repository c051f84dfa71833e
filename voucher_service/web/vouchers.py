"""Issuers' booklets and partners' verifications, redemptions and reversals."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g

from voucher_service.clock import now
from voucher_service.idempotency.api import run_once
from voucher_service.vouchers import fast_redemption, issuance, redemption
from voucher_service.web.auth import requires
from voucher_service.web.helpers import (
    idempotency,
    json_body,
    json_response,
    outcome_response,
    query_int,
    query_text,
    services,
)

blueprint = Blueprint("vouchers", __name__, url_prefix="/v1")


@blueprint.post("/booklets")
@requires("issuer")
def post_booklet() -> Response:
    body = json_body("booklet-create.request")
    idem = idempotency(g.principal.id, body)
    svc, moment = services(), now()
    with svc.database.atomic() as session:
        outcome = run_once(
            session,
            idem,
            moment,
            201,
            lambda: issuance.issue_booklet(
                session,
                svc.context,
                g.principal,
                body["program_id"],
                body["beneficiary_ref"],
                body.get("size"),
                moment,
            ),
        )
    response = outcome_response(outcome)
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/booklets/<uuid:booklet_id>")
@requires("issuer", "admin")
def get_booklet(booklet_id: Any) -> Response:
    with services().database.read() as session:
        view = issuance.get_booklet(session, g.principal, str(booklet_id))
    return json_response(view)


@blueprint.post("/vouchers/verify")
@requires("partner")
def post_verify() -> Response:
    body = json_body("voucher-verify.request")
    svc = services()
    with svc.database.read() as session:
        view = redemption.verify(
            session, svc.context, g.principal, body.get("token"), body.get("code"), now()
        )
    return json_response(view)


@blueprint.post("/redemptions")
@requires("partner")
def post_redemption() -> Response:
    body = json_body("redemption-create.request")
    idem = idempotency(g.principal.id, body)
    svc, moment = services(), now()
    if svc.database.dialect == "postgresql" and "token" in body:
        fast = fast_redemption.redeem_token(
            svc.database,
            svc.program_ids,
            svc.context,
            g.principal,
            body["token"],
            body.get("service"),
            idem,
            moment,
        )
        if fast is not None:
            return outcome_response(fast)
    with svc.database.atomic() as session:
        outcome = run_once(
            session,
            idem,
            moment,
            201,
            lambda: redemption.redeem(
                session,
                svc.context,
                g.principal,
                body.get("token"),
                body.get("code"),
                body.get("service"),
                moment,
            ),
        )
    return outcome_response(outcome)


@blueprint.post("/redemptions/<uuid:redemption_id>/reversal")
@requires("partner")
def post_reversal(redemption_id: Any) -> Response:
    body = json_body("reversal-create.request")
    svc = services()
    with svc.database.atomic() as session:
        view = redemption.reverse(
            session, svc.context, g.principal, str(redemption_id), body["reason"], now()
        )
    return json_response(view)


@blueprint.get("/redemptions")
@requires("partner", "admin", "auditor")
def get_redemptions() -> Response:
    with services().database.read() as session:
        page = redemption.list_redemptions(
            session,
            g.principal,
            query_text("from", 40),
            query_text("to", 40),
            query_int("limit", 100, 1, 500),
            query_text("cursor", 200),
        )
    return json_response(page)
