"""The OpenAPI document is valid, and schemathesis finds no 5xx and no answer off its schema."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from markupsafe import escape
from openapi_spec_validator import validate
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import World
from voucher_service.schemas import all_schemas
from voucher_service.web.openapi import OPERATIONS, RAW_OPERATIONS


def test_the_openapi_document_is_valid_openapi_3_1(client: Any) -> None:
    document = client.get("/openapi.json").json
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_schema_file_is_in_the_document(client: Any) -> None:
    components = client.get("/openapi.json").json["components"]["schemas"]
    assert set(components) == set(all_schemas())


def test_every_problem_type_has_a_page_in_french_and_english(client: Any) -> None:
    from voucher_service.errors import ALL_ERRORS
    from voucher_service.web.problems import FOR_PEOPLE

    for error in ALL_ERRORS:
        page = client.get(f"/problems/{error.slug}")
        assert page.status_code == 200
        assert '<html lang="fr">' in page.text and '<section lang="en">' in page.text
        french_title, next_step = FOR_PEOPLE[error.slug]
        assert f"<title>{escape(french_title)} — Chèques numériques</title>" in page.text
        assert escape(next_step) in page.text
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page.text
        assert '<link rel="stylesheet" href="/static/site.css">' in page.text
        assert "http://" not in page.text and "https://" not in page.text  # nothing elsewhere
    assert client.get("/problems/nonsense").status_code == 404
    style = client.get("/static/site.css")
    try:
        assert style.status_code == 200 and style.mimetype == "text/css"
        assert "url(" not in style.text  # no font or picture fetched from anywhere
    finally:
        style.close()


ROLES = {(method.upper(), path): roles for method, path, roles, *_ in OPERATIONS}
ROLES.update({(method.upper(), path): roles for method, path, roles, *_ in RAW_OPERATIONS})


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.mark.slow
def test_the_api_answers_every_generated_request_within_its_schema(
    app: Flask, world: World
) -> None:
    # Vouchers and a redemption exist, so that generated requests can meet real objects.
    vouchers = world.issue().json["vouchers"]
    world.redeem(token=vouchers[0]["token"])
    api = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) == len(OPERATIONS) + len(RAW_OPERATIONS)
    for operation in operations:
        roles = ROLES[(operation.method.upper(), operation.path)]
        exercise(operation, world.headers(roles[0]) if roles else {})


def exercise(operation: Any, auth: dict[str, str]) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def call(case: Any) -> None:
        # The WSGI transport does not undo gzip, which the service answers a client that
        # accepts it (tests/integration/test_scan_page.py checks that): ask for bodies as is.
        headers = {**auth, "Accept-Encoding": "identity"}
        if case.headers and "Idempotency-Key" in case.headers:
            headers["Idempotency-Key"] = case.headers["Idempotency-Key"]
        case.call_and_validate(headers=headers, checks=CHECKS)

    call()
