"""Administration: programmes, organisations, partners and API keys."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g
from sqlalchemy.orm import Session

from voucher_service.auth.api import create_api_key
from voucher_service.clock import now, parse_rfc3339, rfc3339
from voucher_service.errors import InvalidRequest, NotFound
from voucher_service.organisations.api import create_organisation, organisation_program_ids
from voucher_service.organisations.models import Organisation
from voucher_service.partners.api import (
    PartnerInput,
    create_partner,
    find_partners,
    partner_program_ids,
    public_fields,
)
from voucher_service.partners.models import Partner
from voucher_service.programs.api import (
    ProgramInput,
    create_program,
    get_program,
    program_figures,
)
from voucher_service.programs.models import Program
from voucher_service.web.auth import requires
from voucher_service.web.helpers import (
    json_body,
    json_response,
    query_int,
    query_text,
    services,
)

blueprint = Blueprint("admin", __name__, url_prefix="/v1")


@blueprint.post("/programs")
@requires("admin")
def post_program() -> Response:
    body = json_body("program-create.request")
    data = ProgramInput(
        **{
            **body,
            "valid_from": _time(body, "valid_from"),
            "valid_until": _time(body, "valid_until"),
        }
    )
    with services().database.atomic() as session:
        program = create_program(session, data, now())
        view = program_view(program, program_figures(session, program))
    return json_response(view, 201)


@blueprint.get("/programs/<uuid:program_id>")
@requires("admin", "auditor", "issuer")
def get_program_view(program_id: Any) -> Response:
    with services().database.read() as session:
        program = get_program(session, str(program_id))
        principal = g.principal
        if principal.role == "issuer" and program.id not in organisation_program_ids(
            session, principal.organisation_id
        ):
            raise NotFound(f"no programme {program_id}")
        view = program_view(program, program_figures(session, program))
    return json_response(view)


def program_view(program: Program, figures: dict[str, int]) -> dict[str, Any]:
    return {
        "id": program.id,
        "code": program.code,
        "name": program.name,
        "funder": program.funder,
        "budget_cents": program.budget_cents,
        "face_value_cents": program.face_value_cents,
        "currency": program.currency,
        "booklet_size": program.booklet_size,
        "valid_from": rfc3339(program.valid_from),
        "valid_until": rfc3339(program.valid_until),
        "voucher_validity_days": program.voucher_validity_days,
        "max_vouchers_per_beneficiary": program.max_vouchers_per_beneficiary,
        "territory": program.territory,
        "created_at": rfc3339(program.created_at),
        "figures": figures,
    }


def program_times(body: dict[str, Any]) -> dict[str, Any]:
    """The programme's body with its dates parsed."""
    return {
        **body,
        "valid_from": _time(body, "valid_from"),
        "valid_until": _time(body, "valid_until"),
    }


def _time(body: dict[str, Any], name: str) -> Any:
    try:
        return parse_rfc3339(body[name])
    except ValueError:
        raise InvalidRequest(
            f"{name} is not an RFC 3339 time", [{"path": f"/{name}", "message": "RFC 3339 time"}]
        ) from None


@blueprint.post("/organisations")
@requires("admin")
def post_organisation() -> Response:
    body = json_body("organisation-create.request")
    with services().database.atomic() as session:
        organisation = create_organisation(
            session, body["name"], body["kind"], body.get("programs", []), now()
        )
        view = organisation_view(session, organisation)
    return json_response(view, 201)


def organisation_view(session: Session, organisation: Organisation) -> dict[str, Any]:
    return {
        "id": organisation.id,
        "name": organisation.name,
        "kind": organisation.kind,
        "programs": organisation_program_ids(session, organisation.id),
        "created_at": rfc3339(organisation.created_at),
    }


@blueprint.post("/partners")
@requires("admin")
def post_partner() -> Response:
    body = json_body("partner-create.request")
    body.setdefault("programs", [])
    with services().database.atomic() as session:
        partner = create_partner(session, PartnerInput(**body), now())
        view = partner_view(partner, partner_program_ids(session, partner.id))
    return json_response(view, 201)


def partner_view(partner: Partner, programs: list[str]) -> dict[str, Any]:
    return {
        **public_fields(partner),
        "siret": partner.siret,
        "programs": programs,
        "created_at": rfc3339(partner.created_at),
    }


@blueprint.get("/partners")
@requires("admin", "issuer", "partner", "auditor")
def get_partner_directory() -> Response:
    near = _near(query_text("near", 60))
    radius = _radius(query_text("radius_km", 20))
    program_id = query_text("program_id", 36)
    with services().database.read() as session:
        items = find_partners(
            session,
            near,
            radius if near is not None else None,
            program_id,
            query_text("service", 100),
            query_int("limit", 50, 1, 500),
        )
    return json_response({"items": items})


def _near(raw: str | None) -> tuple[float, float] | None:
    if raw is None:
        return None
    try:
        lat_text, lon_text = raw.split(",")
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        lat, lon = float("nan"), float("nan")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidRequest(
            "near is LAT,LON in degrees", [{"path": "near", "message": "LAT,LON in degrees"}]
        )
    return lat, lon


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
    with services().database.atomic() as session:
        api_key, plain = create_api_key(
            session,
            body["role"],
            now(),
            organisation_id=body.get("organisation_id"),
            partner_id=body.get("partner_id"),
            label=body.get("label", ""),
        )
        view = {
            "id": api_key.id,
            "key": plain,
            "role": api_key.role,
            "organisation_id": api_key.organisation_id,
            "partner_id": api_key.partner_id,
            "label": api_key.label,
        }
    response = json_response(view, 201)
    response.headers["Cache-Control"] = "no-store"
    return response
