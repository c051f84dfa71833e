"""Reports for funders: monthly figures by partner and by organisation, read from the ledger."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import Blueprint, Response

from voucher_service.clock import now
from voucher_service.reports.api import Period, program_report
from voucher_service.reports.spreadsheet import report_csv
from voucher_service.web.auth import requires
from voucher_service.web.helpers import download, json_response, query_text, services

blueprint = Blueprint("reports", __name__)


@blueprint.get("/v1/reports/programs/<uuid:program_id>")
@requires("admin", "auditor")
def get_program_report(program_id: Any) -> Response:
    return json_response(_report(str(program_id)))


@blueprint.get("/v1/reports/programs/<uuid:program_id>.csv")
@requires("admin", "auditor")
def get_program_report_csv(program_id: Any) -> Response:
    return report_csv_response(program_id, _report(str(program_id)))


def report_csv_response(program_id: UUID, report: dict[str, Any]) -> Response:
    """The report as CSV, made whole before its first byte (a refusal is still a 4xx)."""
    name = f"rapport-{program_id.hex[:8]}-{report['from']}-{report['to']}.csv"
    response = download(report_csv(report), "text/csv", name)
    response.mimetype_params["charset"] = "utf-8"
    return response


def _report(program_id: str) -> dict[str, Any]:
    period = Period.parse(query_text("from", 20), query_text("to", 20))
    return program_report(services().database, program_id, period, now())
