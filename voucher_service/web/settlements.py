"""Settlements: bank details, monthly statements, the SEPA payment file, confirm or reject."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, request

from voucher_service.clock import now, parse_month
from voucher_service.partners.api import set_bank_account
from voucher_service.settlements import api, payment, statements
from voucher_service.web.auth import requires
from voucher_service.web.helpers import (
    idempotency,
    json_body,
    json_response,
    outcome_response,
    query_text,
    services,
)

blueprint = Blueprint("settlements", __name__)


@blueprint.put("/v1/partners/<uuid:partner_id>/bank-account")
@requires("admin")
def put_bank_account(partner_id: Any) -> Response:
    body = json_body("bank-account.request")
    view = set_bank_account(
        services().database, str(partner_id), body["holder"], body["iban"], body["bic"]
    )
    return json_response(view)


@blueprint.put("/v1/programs/<uuid:program_id>/debtor-account")
@requires("admin")
def put_debtor_account(program_id: Any) -> Response:
    body = json_body("debtor-account.request")
    view = payment.set_debtor_account(
        services().database, str(program_id), body["name"], body["iban"], body["bic"]
    )
    return json_response(view)


@blueprint.post("/v1/settlements")
@requires("admin")
def post_settlement() -> Response:
    body = json_body("settlement-create.request")
    month = parse_month(body["period"], "/period")
    svc = services()
    outcome = api.settle_month(
        svc.database,
        svc.context,
        g.principal,
        body["program_id"],
        month,
        idempotency(g.principal.id, body),
        now(),
    )
    return outcome_response(outcome, "/v1/settlements/{id}")


@blueprint.get("/v1/settlements")
@requires("admin", "auditor", "partner")
def list_settlements() -> Response:
    program_id = query_text("program_id", 36)
    return json_response(api.list_settlements(services().database, g.principal, program_id))


@blueprint.get("/v1/settlements/<uuid:settlement_id>")
@requires("admin", "auditor", "partner")
def get_settlement(settlement_id: Any) -> Response:
    return json_response(api.get_settlement(services().database, g.principal, str(settlement_id)))


@blueprint.get("/v1/settlements/<uuid:settlement_id>/statements/<uuid:partner_id>.csv")
@requires("admin", "auditor", "partner")
def get_statement_csv(settlement_id: Any, partner_id: Any) -> Response:
    document = statements.read_statement(
        services().database, g.principal, str(settlement_id), str(partner_id)
    )
    response = Response(statements.statement_csv(document), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = _file_name(document, "csv")
    return response


@blueprint.get("/v1/settlements/<uuid:settlement_id>/statements/<uuid:partner_id>.pdf")
@requires("admin", "auditor", "partner")
def get_statement_pdf(settlement_id: Any, partner_id: Any) -> Response:
    document = statements.read_statement(
        services().database, g.principal, str(settlement_id), str(partner_id)
    )
    response = Response(statements.statement_pdf(document), mimetype="application/pdf")
    response.headers["Content-Disposition"] = _file_name(document, "pdf", "inline")
    return response


@blueprint.post("/v1/settlements/<uuid:settlement_id>/payment-file")
@requires("admin")
def post_payment_file(settlement_id: Any) -> Response:
    content = payment.payment_file(services().database, str(settlement_id), now())
    response = Response(content, mimetype="application/xml")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="virements-{settlement_id.hex[:8]}.xml"'
    )
    return response


@blueprint.post("/v1/settlements/<uuid:settlement_id>/confirm")
@requires("admin")
def post_confirm(settlement_id: Any) -> Response:
    return _answer(str(settlement_id), "confirm")


@blueprint.post("/v1/settlements/<uuid:settlement_id>/reject")
@requires("admin")
def post_reject(settlement_id: Any) -> Response:
    return _answer(str(settlement_id), "reject")


def _answer(settlement_id: str, answer: api.Answer) -> Response:
    # The body may be left out: every statement still in payment is answered.
    body = json_body("settlement-answer.request") if request.get_data(cache=True) else {}
    view = api.answer_payment(
        services().database,
        settlement_id,
        answer,
        body.get("partner_ids"),
        body.get("reason"),
        now(),
    )
    return json_response(view)


def _file_name(
    document: statements.StatementDocument, extension: str, how: str = "attachment"
) -> str:
    period = f"{document.period.year:04d}-{document.period.month:02d}"
    return f'{how}; filename="releve-{period}-{document.settlement_id[:8]}.{extension}"'
