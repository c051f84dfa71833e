"""The OpenAPI document says what the service does, with examples its own schemas accept, and
the explorer at /docs shows it, served by the service alone under a strict CSP."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from voucher_service.schemas import validator

ROOT = Path(__file__).resolve().parents[2]
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json
    return body


def fetch(client: FlaskClient, path: str) -> Any:
    """The answer, read whole and closed (a file it streams is closed with it)."""
    response = client.get(path)
    response.get_data()
    response.close()
    return response


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_the_document_is_valid_openapi_3_1_served_from_public_base_url(
    document: dict[str, Any],
) -> None:
    validate(document)
    assert document["servers"] == [
        {"url": "https://pass.example.fr", "description": "This service"}
    ]


def test_only_the_keyed_posts_ask_for_an_idempotency_key(document: dict[str, Any]) -> None:
    keyed = set()
    for method, path, operation in operations(document):
        for parameter in operation.get("parameters", []):
            if parameter["name"] == "Idempotency-Key":
                assert parameter["in"] == "header" and parameter["required"] is True
                keyed.add((method, path))
    assert keyed == {
        ("post", "/v1/booklets"),
        ("post", "/v1/redemptions"),
        ("post", "/v1/booklet-batches"),
        ("post", "/v1/booklets/{booklet_id}/reissue"),
        ("post", "/v1/settlements"),
    }


def test_a_post_takes_no_query_parameters(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        if method != "get":
            query = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
            assert query == [], (method, path)
    listing = document["paths"]["/v1/redemptions"]["get"]["parameters"]
    assert {p["name"] for p in listing} == {"from", "to", "limit", "cursor"}


def test_operation_ids_are_unique_plain_names(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids))
    for operation_id in ids:
        assert re.fullmatch(r"[a-z][A-Za-z0-9]*", operation_id), operation_id


def test_every_parameter_is_described(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        for parameter in operation.get("parameters", []):
            assert len(parameter.get("description", "")) > 10, (method, path, parameter["name"])


def schema_name(media: dict[str, Any]) -> str:
    return str(media["schema"]["$ref"]).rpartition("/")[2]


def test_every_request_and_answer_has_examples_its_schema_accepts(
    document: dict[str, Any],
) -> None:
    checked = 0
    for method, path, operation in operations(document):
        bodies = [operation["requestBody"]] if "requestBody" in operation else []
        bodies += list(operation["responses"].values())
        for body in bodies:
            for media_type, media in body.get("content", {}).items():
                where = (method, path, media_type)
                if "$ref" not in media.get("schema", {}):
                    binary = media["schema"].get("format") == "binary"
                    assert binary or isinstance(media.get("example"), str), where
                    continue
                assert media.get("examples"), where
                for example in media["examples"].values():
                    errors = list(validator(schema_name(media)).iter_errors(example["value"]))
                    assert errors == [], (where, [e.message for e in errors])
                    checked += 1
    assert checked > 100


def test_a_201_names_the_location_of_the_new_resource(document: dict[str, Any]) -> None:
    created = [
        (method, path)
        for method, path, operation in operations(document)
        if "201" in operation["responses"]
    ]
    assert len(created) == 11
    for method, path in created:
        headers = document["paths"][path][method]["responses"]["201"]["headers"]
        assert "Location" in headers, path


def test_every_route_of_the_api_is_in_the_document_and_no_other(
    app: Flask, document: dict[str, Any]
) -> None:
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/v1/"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        routes |= {
            (method.lower(), path) for method in rule.methods or () if method.lower() in METHODS
        }
    documented = {(m, p) for m, p, _ in operations(document) if p.startswith("/v1/")}
    assert documented == routes


def test_the_new_endpoints_are_documented_with_their_roles(document: dict[str, Any]) -> None:
    roles = {
        ("get", "/v1/programs"): "admin, auditor, issuer",
        ("get", "/v1/organisations"): "admin",
        ("get", "/v1/organisations/{organisation_id}"): "admin, issuer",
        ("post", "/v1/organisations/{organisation_id}/programs"): "admin",
        ("get", "/v1/booklets"): "issuer, admin",
        ("get", "/v1/redemptions/{redemption_id}"): "partner, admin, auditor",
        ("get", "/v1/partners/{partner_id}"): "admin, partner",
        ("get", "/v1/api-keys/{key_id}"): "admin",
    }
    for (method, path), expected in roles.items():
        operation = document["paths"][path][method]
        assert operation["description"].startswith(f"Roles: {expected}."), path
        assert operation["security"] == [{"apiKey": []}]


# The explorer


class Page(HTMLParser):
    """What a page loads, and whatever it would run or style inline."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        for attribute in ("src", "href"):
            if named.get(attribute):
                self.urls.append(str(named[attribute]))
        self.inline += [f"{tag} {name}" for name, _ in attrs if name == "style"]
        self.inline += [f"{tag} {name}" for name, _ in attrs if name.startswith("on")]
        if tag == "style":
            self.inline.append("style element")
        self._in_script = tag == "script" and "src" not in named

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("inline script")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


def directives(policy: str) -> dict[str, list[str]]:
    parts = (part.split() for part in policy.split(";") if part.strip())
    return {name: values for name, *values in parts}


def test_the_explorer_is_served_under_a_strict_content_security_policy(
    client: FlaskClient,
) -> None:
    page = fetch(client, "/docs")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    policy = directives(page.headers["Content-Security-Policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    for values in policy.values():
        for value in values:
            assert value in ("'self'", "'none'", "data:"), value


def test_the_explorer_loads_everything_from_the_service_and_runs_nothing_inline(
    client: FlaskClient,
) -> None:
    page = Page()
    page.feed(fetch(client, "/docs").text)
    assert page.inline == []
    assert len(page.urls) >= 4
    for url in page.urls:
        target = urlsplit(urljoin("http://localhost/docs", url))
        assert (target.scheme, target.netloc) == ("http", "localhost"), url  # no other origin
        asset = fetch(client, target.path)
        assert asset.status_code == 200, url
        expected = {
            ".js": "text/javascript",
            ".css": "text/css",
            ".png": "image/png",
            ".json": "application/json",
        }
        assert asset.mimetype == expected[Path(target.path).suffix], url
    script = fetch(client, "/docs/docs.js").text
    assert "http" not in script.replace("document.baseURI", "")
    assert "validatorUrl: null" in script


def test_the_vendored_explorer_carries_its_licence_at_the_pinned_version(
    client: FlaskClient,
) -> None:
    licence = fetch(client, "/docs/swagger-ui/LICENSE")
    assert licence.status_code == 200 and licence.mimetype == "text/plain"
    assert "Apache License" in licence.text
    assert fetch(client, "/docs/swagger-ui/swagger-ui-bundle.js.LICENSE.txt").status_code == 200
    _, version, integrity = fetch(client, "/docs/swagger-ui/VERSION").text.split()
    makefile = (ROOT / "Makefile").read_text()
    assert f"SWAGGER_UI_VERSION := {version}\n" in makefile
    assert f"SWAGGER_UI_INTEGRITY := {integrity}\n" in makefile
    bundle = fetch(client, "/docs/swagger-ui/swagger-ui-bundle.js")
    assert f'PACKAGE_VERSION:"{version}"' in bundle.get_data(as_text=True)


@pytest.mark.parametrize(
    "path", ["/docs/../web/app.py", "/docs/%2e%2e/web/app.py", "/docs/nothing.js", "/docs/"]
)
def test_the_explorer_serves_its_own_folder_and_nothing_else(
    client: FlaskClient, path: str
) -> None:
    response = fetch(client, path)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
