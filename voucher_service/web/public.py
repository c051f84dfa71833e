"""Public endpoints: JWKS, health, the OpenAPI document and the problem pages."""

from __future__ import annotations

from flask import Blueprint, Response

from voucher_service.clock import now
from voucher_service.errors import NotFound
from voucher_service.health import not_ready
from voucher_service.vouchers.jwks import published_keys
from voucher_service.web.helpers import json_response, services
from voucher_service.web.openapi import openapi_document
from voucher_service.web.problems import EXPLANATIONS, problem_page, problem_response

blueprint = Blueprint("public", __name__)


@blueprint.get("/.well-known/jwks.json")
def get_jwks() -> Response:
    svc = services()
    response = json_response(published_keys(svc.database, svc.context, now()))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@blueprint.get("/healthz")
def get_health() -> Response:
    return json_response({"status": "ok"})


@blueprint.get("/readyz")
def get_ready() -> Response:
    reason = not_ready(services().database)
    if reason is not None:
        return problem_response("service-unavailable", 503, reason)
    return json_response({"status": "ok", "database": "ok"})


@blueprint.get("/openapi.json")
def get_openapi() -> Response:
    return json_response(openapi_document())


@blueprint.get("/problems/<slug>")
def get_problem_page(slug: str) -> Response:
    if slug not in EXPLANATIONS:
        raise NotFound(f"no problem type {slug}")
    return Response(problem_page(slug), mimetype="text/html")
