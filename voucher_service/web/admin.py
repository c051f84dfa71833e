"""Administration: programmes, organisations, partners and API keys."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g

from voucher_service.auth.api import create_api_key, get_api_key, list_api_keys, revoke_api_key
from voucher_service.clock import now
from voucher_service.errors import InvalidRequest
from voucher_service.organisations.api import (
    OrganisationInput,
    add_program_to_organisation,
    create_organisation,
    get_organisation,
    list_organisations,
    update_organisation,
)
from voucher_service.partners.api import (
    PartnerInput,
    create_partner,
    get_partner,
    update_partner,
)
from voucher_service.partners.directory import find_partners
from voucher_service.people.accounts import create_user, get_user
from voucher_service.programs.api import ProgramInput, create_program, get_program, list_programs
from voucher_service.web.auth import requires
from voucher_service.web.helpers import (
    created,
    json_body,
    json_response,
    query_int,
    query_near,
    query_text,
    services,
)

blueprint = Blueprint("admin", __name__, url_prefix="/v1")


@blueprint.post("/programs")
@requires("admin")
def post_program() -> Response:
    data = ProgramInput.from_body(json_body("program-create.request"))
    return created(create_program(services().database, data, now()), "/v1/programs/{id}")


@blueprint.get("/programs")
@requires("admin", "auditor", "issuer")
def get_programs() -> Response:
    limit, cursor = query_int("limit", 100, 1, 500), query_text("cursor", 200)
    return json_response(list_programs(services().database, g.principal, limit, cursor))


@blueprint.get("/programs/<uuid:program_id>")
@requires("admin", "auditor", "issuer")
def get_program_view(program_id: Any) -> Response:
    return json_response(get_program(services().database, g.principal, str(program_id)))


@blueprint.post("/organisations")
@requires("admin")
def post_organisation() -> Response:
    data = OrganisationInput.from_body(json_body("organisation-create.request"))
    view = create_organisation(services().database, data, now())
    return created(view, "/v1/organisations/{id}")


@blueprint.get("/organisations")
@requires("admin")
def get_organisations() -> Response:
    limit, cursor = query_int("limit", 100, 1, 500), query_text("cursor", 200)
    return json_response(list_organisations(services().database, limit, cursor))


@blueprint.get("/organisations/<uuid:organisation_id>")
@requires("admin", "issuer")
def get_organisation_view(organisation_id: Any) -> Response:
    view = get_organisation(services().database, g.principal, str(organisation_id))
    return json_response(view)


@blueprint.patch("/organisations/<uuid:organisation_id>")
@requires("admin")
def patch_organisation(organisation_id: Any) -> Response:
    changes = json_body("organisation-update.request")
    return json_response(update_organisation(services().database, str(organisation_id), changes))


@blueprint.post("/organisations/<uuid:organisation_id>/programs")
@requires("admin")
def post_organisation_program(organisation_id: Any) -> Response:
    body = json_body("organisation-program-add.request")
    view = add_program_to_organisation(
        services().database, str(organisation_id), body["program_id"]
    )
    return json_response(view)


@blueprint.post("/partners")
@requires("admin")
def post_partner() -> Response:
    data = PartnerInput.from_body(json_body("partner-create.request"))
    return created(create_partner(services().database, data, now()), "/v1/partners/{id}")


@blueprint.get("/partners/<uuid:partner_id>")
@requires("admin", "partner")
def get_partner_view(partner_id: Any) -> Response:
    return json_response(get_partner(services().database, g.principal, str(partner_id)))


@blueprint.patch("/partners/<uuid:partner_id>")
@requires("admin")
def patch_partner(partner_id: Any) -> Response:
    changes = json_body("partner-update.request")
    return json_response(update_partner(services().database, str(partner_id), changes))


@blueprint.get("/partners")
@requires("admin", "issuer", "partner", "auditor")
def get_partner_directory() -> Response:
    items = find_partners(
        services().database,
        query_near(),
        _radius(query_text("radius_km", 20)),
        query_text("program_id", 36),
        query_text("service", 100),
        query_int("limit", 50, 1, 500),
    )
    return json_response({"items": items})


def _radius(raw: str | None) -> float:
    if raw is None:
        return 20.0
    try:
        radius = float(raw)
    except ValueError:
        radius = float("nan")
    if not 0 < radius <= 1000:
        raise InvalidRequest(
            "radius_km is a distance from 0 to 1000 km",
            [{"path": "radius_km", "message": "number in (0, 1000]"}],
        )
    return radius


@blueprint.post("/api-keys")
@requires("admin")
def post_api_key() -> Response:
    body = json_body("api-key-create.request")
    view = create_api_key(
        services().database,
        body["role"],
        now(),
        organisation_id=body.get("organisation_id"),
        partner_id=body.get("partner_id"),
        label=body.get("label", ""),
    )
    response = created(view, "/v1/api-keys/{id}")
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/api-keys")
@requires("admin")
def get_api_keys() -> Response:
    return json_response(list_api_keys(services().database))


@blueprint.get("/api-keys/<uuid:key_id>")
@requires("admin")
def get_api_key_view(key_id: Any) -> Response:
    return json_response(get_api_key(services().database, str(key_id)))


@blueprint.delete("/api-keys/<uuid:key_id>")
@requires("admin")
def delete_api_key(key_id: Any) -> Response:
    return json_response(revoke_api_key(services().database, str(key_id), now()))


@blueprint.post("/users")
@requires("admin")
def post_user() -> Response:
    body = json_body("user-create.request")
    view = create_user(
        services().database,
        body["email"],
        body["role"],
        body["password"],
        now(),
        organisation_id=body.get("organisation_id"),
        partner_id=body.get("partner_id"),
    )
    response = created(view, "/v1/users/{id}")
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/users/<uuid:user_id>")
@requires("admin")
def get_user_view(user_id: Any) -> Response:
    response = json_response(get_user(services().database, str(user_id)))
    response.headers["Cache-Control"] = "no-store"
    return response
