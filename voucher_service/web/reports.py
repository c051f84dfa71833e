"""Reports for funders: monthly figures by partner and by organisation, read from the ledger."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from voucher_service.clock import now
from voucher_service.reports.api import Period, program_report
from voucher_service.reports.spreadsheet import report_csv
from voucher_service.web.auth import requires
from voucher_service.web.helpers import json_response, query_text, services

blueprint = Blueprint("reports", __name__)


@blueprint.get("/v1/reports/programs/<uuid:program_id>")
@requires("admin", "auditor")
def get_program_report(program_id: Any) -> Response:
    return json_response(_report(str(program_id)))


@blueprint.get("/v1/reports/programs/<uuid:program_id>.csv")
@requires("admin", "auditor")
def get_program_report_csv(program_id: Any) -> Response:
    report = _report(str(program_id))  # whole before the first byte: a refusal is a 4xx
    response = Response(report_csv(report), mimetype="text/csv")
    response.mimetype_params["charset"] = "utf-8"
    name = f"rapport-{program_id.hex[:8]}-{report['from']}-{report['to']}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _report(program_id: str) -> dict[str, Any]:
    period = Period.parse(query_text("from", 20), query_text("to", 20))
    return program_report(services().database, program_id, period, now())
