"""Public endpoints: JWKS, the directory map, health, the OpenAPI document and its explorer,
the problem pages."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, send_from_directory

from voucher_service.clock import now
from voucher_service.errors import NotFound
from voucher_service.health import not_ready
from voucher_service.partners.directory import partner_map
from voucher_service.vouchers.jwks import published_keys
from voucher_service.web.helpers import json_response, query_text, services
from voucher_service.web.openapi import openapi_document
from voucher_service.web.problems import EXPLANATIONS, problem_page, problem_response

blueprint = Blueprint("public", __name__)


@blueprint.get("/.well-known/jwks.json")
def get_jwks() -> Response:
    svc = services()
    response = json_response(published_keys(svc.database, svc.context, now()))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@blueprint.get("/v1/partners.geojson")
def get_partner_map() -> Response:
    document = partner_map(
        services().database, query_text("program_id", 36), query_text("service", 100)
    )
    response = json_response(document)
    response.mimetype = "application/geo+json"
    response.headers["Cache-Control"] = "public, max-age=300"
    # Public and keyless: a map on any site (Leaflet, OpenLayers, uMap) may load it.
    response.headers["Access-Control-Allow-Origin"] = "*"
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
    return json_response(openapi_document(current_app.config["PUBLIC_BASE_URL"]))


# The API explorer (Swagger UI, vendored from npm by `make vendor`): served from the package,
# nothing from another origin. Its page runs no inline script or style; what the bundle sets
# at run time goes through the CSSOM, which a CSP does not govern.
DOCS = Path(__file__).resolve().parents[1] / "static" / "docs"
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@blueprint.get("/docs")
def get_docs() -> Response:
    return _docs_file("index.html", max_age=0)


@blueprint.get("/docs/<path:name>")
def get_docs_asset(name: str) -> Response:
    return _docs_file(name, max_age=3600)


def _docs_file(name: str, max_age: int) -> Response:
    # 404 outside the folder; LICENSE, NOTICE and VERSION are read as text.
    plain = "text/plain" if "." not in Path(name).name else None
    response = send_from_directory(DOCS, name, max_age=max_age, mimetype=plain)
    response.headers["Content-Security-Policy"] = DOCS_CONTENT_SECURITY_POLICY
    return response


@blueprint.get("/problems/<slug>")
def get_problem_page(slug: str) -> Response:
    if slug not in EXPLANATIONS:
        raise NotFound(f"no problem type {slug}")
    return Response(problem_page(slug), mimetype="text/html")
