"""The scale bench's two programmes, made through the service's HTTP surface as an admin would."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from voucher_service.auth.api import create_api_key
from voucher_service.clock import now, rfc3339
from voucher_service.db import Database

BOOKLET = 10
FACE_VALUE_CENTS = 1000
VALIDITY_DAYS = 365
# Room for what the measurement itself issues, on top of the vouchers a programme is grown to.
SPARE_VOUCHERS = 100_000
# Valid SIRETs (Luhn), one venue a programme: the service refuses a SIRET twice.
SIRETS = {"empty": "73282932000074", "big": "44306184100047"}

Headers = dict[str, str]


class CallFailed(RuntimeError):
    """The service answered a bench call with something other than 2xx: the figures would lie."""


def answer(method: str, path: str, response: TestResponse) -> Any:
    """The answer's JSON body, or CallFailed with its status and body."""
    if not 200 <= response.status_code < 300:
        body = response.get_data(as_text=True)
        raise CallFailed(f"{method} {path} answered {response.status_code}: {body}")
    return response.get_json()


def call(client: FlaskClient, method: str, path: str, headers: Headers, body: Any = None) -> Any:
    return answer(method, path, client.open(path, method=method, headers=headers, json=body))


def bearer(key: str) -> Headers:
    return {"Authorization": f"Bearer {key}"}


@dataclass(frozen=True)
class Programme:
    """A programme of the bench, with the keys of its distributor and of an affiliated venue."""

    label: str
    id: str
    code: str
    organisation_id: str
    issuer_key_id: str
    issuer: Headers
    partner: Headers


def admin_headers(database: Database) -> Headers:
    """The first admin key is made as the CLI makes it: there is no one yet to ask over HTTP."""
    return bearer(create_api_key(database, "admin", now(), label="scale bench")["key"])


def make_programme(
    client: FlaskClient, admin: Headers, label: str, code: str, vouchers: int
) -> Programme:
    """A programme whose budget holds `vouchers` plus what the measurement issues."""
    moment = now()
    program = call(
        client,
        "POST",
        "/v1/programs",
        admin,
        {
            "code": code,
            "name": f"Scale bench, {label}",
            "funder": "Scale bench funder",
            "budget_cents": (vouchers + SPARE_VOUCHERS) * FACE_VALUE_CENTS,
            "face_value_cents": FACE_VALUE_CENTS,
            "currency": "EUR",
            "booklet_size": BOOKLET,
            "valid_from": rfc3339(moment - timedelta(days=1)),
            "valid_until": rfc3339(moment + timedelta(days=5 * 365)),
            "voucher_validity_days": VALIDITY_DAYS,
            # Every booklet goes to a beneficiary of its own: one booklet each is enough.
            "max_vouchers_per_beneficiary": BOOKLET,
            "territory": ["87"],
        },
    )
    programs = [program["id"]]
    organisation = call(
        client,
        "POST",
        "/v1/organisations",
        admin,
        {"name": f"CCAS {label}", "kind": "ccas", "programs": programs},
    )
    venue = call(
        client,
        "POST",
        "/v1/partners",
        admin,
        {
            "siret": SIRETS[label],
            "name": f"Venue {label}",
            "address": "2 place Aimé Césaire, Limoges",
            "postcode": "87000",
            "latitude": 45.8336,
            "longitude": 1.2532,
            "services": ["atelier-ordinateur"],
            "programs": programs,
        },
    )
    issuer = _api_key(client, admin, "issuer", organisation_id=organisation["id"])
    partner = _api_key(client, admin, "partner", partner_id=venue["id"])
    return Programme(
        label,
        program["id"],
        code,
        organisation["id"],
        issuer["id"],
        bearer(issuer["key"]),
        bearer(partner["key"]),
    )


def _api_key(client: FlaskClient, admin: Headers, role: str, **binding: str) -> Any:
    body = {"role": role, "label": f"scale bench {role}", **binding}
    return call(client, "POST", "/v1/api-keys", admin, body)
