"""The auditor's page, /audit: each programme's money at a glance, the log's health.

Every figure comes from the use cases the API serves, called with the signed-in person's
Principal; the downloads are page routes of their own (a person has a session, not an API
key) that call the same use cases as /v1/ledger/export.csv, /v1/reports/…csv,
/v1/programs/…/closing-statement.pdf, /v1/audit/bundle and the settlements' statements.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from flask import Blueprint, Response, render_template
from sqlalchemy import select

from voucher_service.auth.api import Principal
from voucher_service.clock import local_zone, month_of, now
from voucher_service.errors import ServiceError, Unauthorized
from voucher_service.ledger.models import LedgerCheckpoint
from voucher_service.pages.chart import (
    NARROW_MONTHS,
    NARROW_WIDTH,
    month_label,
    monthly_chart,
    months_from_report,
)
from voucher_service.partners.models import Partner
from voucher_service.printing.french import amount
from voucher_service.programs.api import list_programs
from voucher_service.reports.api import Period, program_report
from voucher_service.settlements import api as settlements
from voucher_service.settlements import statements
from voucher_service.web import people
from voucher_service.web.helpers import services
from voucher_service.web.ledger import bundle_response, ledger_csv_response
from voucher_service.web.lifecycle import closing_pdf_response
from voucher_service.web.reports import report_csv_response

blueprint = Blueprint("audit_pages", __name__)


@blueprint.after_request
def not_kept(response: Response) -> Response:
    """A front-desk computer is shared: no page or file of a person's session stays in a
    cache (the browser's back button after sign-out shows nothing)."""
    response.headers["Cache-Control"] = "no-store"
    return response


CHART_MONTHS = 12
MAX_PROGRAM_PAGES = 20  # 100 programmes a page

# The figures of a programme, in the order the page lists them, with their French names.
FIGURES: tuple[tuple[str, str], ...] = (
    ("budget_cents", "Budget"),
    ("issued_cents", "Émis"),
    ("redeemed_cents", "Encaissé"),
    ("settled_cents", "Réglé"),
    ("paid_cents", "Payé"),
    ("expired_cents", "Expiré"),
    ("cancelled_cents", "Annulé"),
    ("outstanding_cents", "En circulation"),
    ("available_cents", "Disponible"),
)
KEY_FIGURES = {"budget_cents", "available_cents"}

SETTLEMENT_STATUSES = {
    "empty": "rien à régler",
    "in_payment": "en paiement",
    "paid": "payé",
    "rejected": "paiement rejeté",
    "partly_paid": "payé en partie",
}
STATEMENT_STATUSES = {"in_payment": "en paiement", "paid": "payé", "rejected": "rejeté"}


def person() -> Principal:
    principal = people.current_person()
    if principal is None:
        raise Unauthorized("sign in first")
    return principal


def age_in_words(then: datetime, moment: datetime) -> str:
    """How long ago, as one says it: `il y a 3 minutes`."""
    seconds = max(0, int((moment - then).total_seconds()))
    if seconds < 60:
        return "il y a moins d'une minute"
    units = ((86400, "jour", "jours"), (3600, "heure", "heures"), (60, "minute", "minutes"))
    for size, one, many in units:
        if seconds >= size:
            count = seconds // size
            return f"il y a {count} {one if count == 1 else many}"
    raise AssertionError("unreachable")


def paris_time(moment: datetime) -> str:
    local = moment.astimezone(local_zone())
    return f"{local:%d/%m/%Y} à {local.hour} h {local.minute:02d}"


def _programs(principal: Principal) -> list[dict[str, Any]]:
    database = services().database
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(MAX_PROGRAM_PAGES):
        page = list_programs(database, principal, 100, cursor)
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    return items


def _checkpoint() -> dict[str, Any]:
    """The latest signed checkpoint: its size and how old it is."""
    with services().database.read() as session:
        row = session.execute(
            select(LedgerCheckpoint.size, LedgerCheckpoint.created_at)
            .order_by(LedgerCheckpoint.size.desc())
            .limit(1)
        ).first()
    if row is None:
        return {"size": 0, "age": None, "at": None}
    moment = now()
    return {
        "size": int(row.size),
        "age": age_in_words(row.created_at, moment),
        "at": paris_time(row.created_at),
    }


def _chart_period(moment: datetime) -> Period:
    """The last twelve months, this one included."""
    last = month_of(moment)
    index = last.year * 12 + last.month - 1 - (CHART_MONTHS - 1)
    return Period(date(index // 12, index % 12 + 1, 1), last)


def _program_view(program: dict[str, Any], moment: datetime) -> dict[str, Any]:
    currency = program["currency"]
    report = program_report(services().database, program["id"], _chart_period(moment), moment)
    months = months_from_report(report, CHART_MONTHS)
    chart_id = f"graphique-{program['id'][:8]}"
    return {
        "id": program["id"],
        "name": program["name"],
        "funder": program["funder"],
        "code": program["code"],
        "figures": [
            {
                "label": label,
                "value": amount(program["figures"].get(name, 0), currency),
                "key": name in KEY_FIGURES,
            }
            for name, label in FIGURES
        ],
        "narrow_chart": monthly_chart(
            months[-NARROW_MONTHS:],
            title=(
                f"Chèques émis et encaissés, les {NARROW_MONTHS} derniers mois — {program['name']}"
            ),
            chart_id=f"{chart_id}-court",
            width=NARROW_WIDTH,
        ),
        "chart": monthly_chart(
            months,
            title=f"Chèques émis et encaissés par mois — {program['name']}",
            chart_id=chart_id,
        ),
        "chart_id": chart_id,
        "months": [
            {
                "label": month_label(m.month),
                "issued": amount(m.issued_cents, currency),
                "redeemed": amount(m.redeemed_cents, currency),
            }
            for m in months
        ],
    }


def _settlements(principal: Principal, names: dict[str, str]) -> list[dict[str, Any]]:
    items = settlements.list_settlements(services().database, principal, None)["items"]
    partner_ids = {s["partner_id"] for item in items for s in item["statements"]}
    partners: dict[str, str] = {}
    if partner_ids:
        with services().database.read() as session:
            rows = session.execute(
                select(Partner.id, Partner.name).where(Partner.id.in_(partner_ids))
            )
            partners = {row.id: row.name for row in rows}
    return [
        {
            "id": item["id"],
            "program": names.get(item["program_id"], "—"),
            "period": month_label(item["period"]),
            "status": SETTLEMENT_STATUSES.get(item["status"], item["status"]),
            "total": amount(item["total_cents"], item["currency"]),
            "statements": [
                {
                    "partner_id": s["partner_id"],
                    "partner": partners.get(s["partner_id"], "—"),
                    "count": s["count"],
                    "amount": amount(s["amount_cents"], item["currency"]),
                    "status": STATEMENT_STATUSES.get(s["status"], s["status"]),
                }
                for s in item["statements"]
            ],
        }
        for item in items
    ]


@blueprint.get("/audit")
@people.person_required("auditor")
def audit_page() -> Any:
    principal = person()
    moment = now()
    try:
        programs = _programs(principal)
        views = [_program_view(program, moment) for program in programs]
        names = {p["id"]: p["name"] for p in programs}
        settled = _settlements(principal, names)
        checkpoint = _checkpoint()
    except ServiceError as error:
        page = render_template("audit_problem.html", detail=error.slug)
        return page, error.status
    return render_template(
        "audit.html",
        programs=views,
        settlements=settled,
        checkpoint=checkpoint,
        generated_at=paris_time(moment),
    )


# The downloads: the same use cases as the API's, with the person's Principal.


@blueprint.get("/audit/grand-livre.csv")
@people.person_required("auditor")
def ledger_export() -> Response:
    person()
    return ledger_csv_response("grand-livre.csv")


@blueprint.get("/audit/paquet-d-audit.zip")
@people.person_required("auditor")
def audit_bundle() -> Response:
    person()
    return bundle_response("paquet-d-audit.zip")


@blueprint.get("/audit/programmes/<uuid:program_id>/rapport.csv")
@people.person_required("auditor")
def report_export(program_id: UUID) -> Response:
    person()
    report = program_report(services().database, str(program_id), Period(None, None), now())
    return report_csv_response(program_id, report)


@blueprint.get("/audit/programmes/<uuid:program_id>/releve-de-cloture.pdf")
@people.person_required("auditor")
def closing_pdf(program_id: UUID) -> Response:
    person()
    return closing_pdf_response(program_id, "attachment")


@blueprint.get("/audit/reglements/<uuid:settlement_id>/releves/<uuid:partner_id>.<kind>")
@people.person_required("auditor")
def statement_file(settlement_id: UUID, partner_id: UUID, kind: str) -> Response:
    principal = person()
    if kind not in ("csv", "pdf"):
        return Response(render_template("audit_problem.html", detail="not-found"), 404)
    document = statements.read_statement(
        services().database, principal, str(settlement_id), str(partner_id)
    )
    if kind == "csv":
        response = Response(statements.statement_csv(document), mimetype="text/csv")
        response.mimetype_params["charset"] = "utf-8"
    else:
        response = Response(statements.statement_pdf(document), mimetype="application/pdf")
    period = f"{document.period.year:04d}-{document.period.month:02d}"
    name = f"releve-{period}-{document.settlement_id[:8]}.{kind}"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
