"""Public endpoints: JWKS, health, the OpenAPI document and the problem pages."""

from __future__ import annotations

from flask import Blueprint, Response
from sqlalchemy import text

from voucher_service.clock import now
from voucher_service.errors import NotFound
from voucher_service.vouchers.jwks import published_jwks
from voucher_service.web.helpers import json_response, services
from voucher_service.web.openapi import openapi_document
from voucher_service.web.problems import EXPLANATIONS, problem_page, problem_response

blueprint = Blueprint("public", __name__)


@blueprint.get("/.well-known/jwks.json")
def get_jwks() -> Response:
    svc = services()
    with svc.database.read() as session:
        jwks = published_jwks(session, svc.context.keys.voucher, now())
    response = json_response(jwks)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@blueprint.get("/healthz")
def get_health() -> Response:
    return json_response({"status": "ok"})


@blueprint.get("/readyz")
def get_ready() -> Response:
    try:
        with services().database.read() as session:
            session.execute(text("SELECT 1"))
    except Exception:
        return problem_response("internal-error", 503, "the database does not answer")
    return json_response({"status": "ok", "database": "ok"})


@blueprint.get("/openapi.json")
def get_openapi() -> Response:
    return json_response(openapi_document())


@blueprint.get("/problems/<slug>")
def get_problem_page(slug: str) -> Response:
    if slug not in EXPLANATIONS:
        raise NotFound(f"no problem type {slug}")
    return Response(problem_page(slug), mimetype="text/html; charset=utf-8")
