"""What the views share: the services, the JSON body, the Idempotency-Key, the answers."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import Response, current_app, request

from voucher_service.clock import parse_time
from voucher_service.errors import IdempotencyKeyRequired, InvalidRequest
from voucher_service.idempotency.api import Idempotency, Outcome, fingerprint
from voucher_service.schemas import check_text, validate
from voucher_service.services import Services

MAX_BODY_BYTES = 64 * 1024


def services() -> Services:
    result: Services = current_app.extensions["voucher_service"]
    return result


def json_body(schema: str) -> dict[str, Any]:
    """The request's JSON object, checked against its schema."""
    raw = request.get_data(cache=True)  # 413 past MAX_CONTENT_LENGTH, before reading
    try:
        body = json.loads(raw or b"null", parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise InvalidRequest(
            "the body is not JSON", [{"path": "", "message": "not JSON"}]
        ) from None
    check_text(body)
    validate(schema, body)
    assert isinstance(body, dict)
    return body


def _refuse_constant(name: str) -> Any:
    """NaN and Infinity are not JSON (RFC 8259): refused, never echoed back."""
    raise ValueError(f"{name} is not a JSON number")


def idempotency(principal_id: str, body: dict[str, Any]) -> Idempotency:
    """The request's Idempotency-Key, with the fingerprint of what it asks for."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        raise IdempotencyKeyRequired("send an Idempotency-Key header (1 to 255 printable ASCII)")
    if not 1 <= len(key) <= 255 or not all(" " <= char <= "~" for char in key):
        raise InvalidRequest(
            "the Idempotency-Key must be 1 to 255 printable ASCII characters",
            [{"path": "Idempotency-Key", "message": "1 to 255 printable ASCII characters"}],
        )
    secret = services().context.keys.secret
    return Idempotency(principal_id, key, fingerprint(secret, request.path, body))


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status, mimetype="application/json")


def outcome_response(outcome: Outcome, location: str | None = None) -> Response:
    """A keyed request's answer, first or replayed; a 201 names its new resource at
    `location`, a template whose `{id}` is the body's."""
    response = Response(outcome.body, outcome.status, mimetype="application/json")
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    if location is not None and outcome.status == 201:
        response.headers["Location"] = location.format(id=json.loads(outcome.body)["id"])
    return response


def created(body: dict[str, Any], location: str) -> Response:
    """201 with the new resource, and where it lives (RFC 9110 §15.3.2): `location` is a
    template whose `{id}` is the body's."""
    response = json_response(body, 201)
    response.headers["Location"] = location.format(id=body["id"])
    return response


def query_int(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidRequest(
            f"{name} must be a whole number from {low} to {high}",
            [{"path": name, "message": f"integer from {low} to {high}"}],
        )
    return int(raw)


def query_text(name: str, max_length: int = 200) -> str | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if len(raw) > max_length or "\x00" in raw:
        raise InvalidRequest(f"{name} is malformed", [{"path": name, "message": "malformed"}])
    return raw


def query_near(name: str = "near") -> tuple[float, float] | None:
    """LAT,LON in degrees from the query string, or None when absent; 400 when malformed."""
    raw = query_text(name, 60)
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


def query_time(name: str, *, day_end: bool = False) -> datetime | None:
    """An RFC 3339 time or a date (a day in Paris: its start, or its end with `day_end`) from
    the query string, or None when absent; 400 when malformed."""
    raw = query_text(name, 40)
    return None if raw is None else parse_time(raw, name, day_end=day_end)


# Pages are served by the service itself and load nothing from elsewhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def download(body: Any, mimetype: str, filename: str, disposition: str = "attachment") -> Response:
    """A file to save (or, `inline`, to show): its body, bytes or an iterable of them."""
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    return response


def secure_headers(response: Response) -> Response:
    """Every answer: no type sniffing; HTML pages: a strict Content-Security-Policy."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    return response
