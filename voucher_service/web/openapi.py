"""The OpenAPI 3.1 document, its schemas taken from `schemas/` (one source for both)."""

from __future__ import annotations

from functools import cache
from typing import Any

from voucher_service.schemas import all_schemas

JSON = "application/json"
PROBLEM = "application/problem+json"

# (method, path, roles or None for public, request schema, success status, response schema,
#  problem statuses, summary, parameters)
Operation = tuple[
    str, str, tuple[str, ...] | None, str | None, int, str | None, tuple[int, ...], str
]

OPERATIONS: list[Operation] = [
    (
        "post",
        "/v1/programs",
        ("admin",),
        "program-create.request",
        201,
        "program",
        (400, 401, 403, 409),
        "Create a programme and allocate its budget",
    ),
    (
        "get",
        "/v1/programs/{program_id}",
        ("admin", "auditor", "issuer"),
        None,
        200,
        "program",
        (401, 403, 404),
        "A programme and its figures",
    ),
    (
        "post",
        "/v1/organisations",
        ("admin",),
        "organisation-create.request",
        201,
        "organisation",
        (400, 401, 403),
        "Create a distributor organisation",
    ),
    (
        "post",
        "/v1/partners",
        ("admin",),
        "partner-create.request",
        201,
        "partner",
        (400, 401, 403, 409),
        "Qualify a partner venue",
    ),
    (
        "get",
        "/v1/partners",
        ("admin", "issuer", "partner", "auditor"),
        None,
        200,
        "partner-directory",
        (400, 401),
        "The partner directory, nearest first",
    ),
    (
        "post",
        "/v1/api-keys",
        ("admin",),
        "api-key-create.request",
        201,
        "api-key",
        (400, 401, 403),
        "Mint an API key (shown once)",
    ),
    (
        "get",
        "/v1/api-keys",
        ("admin",),
        None,
        200,
        "api-key-list",
        (401, 403),
        "Every API key (never its secret)",
    ),
    (
        "delete",
        "/v1/api-keys/{key_id}",
        ("admin",),
        None,
        200,
        "api-key-record",
        (401, 403, 404),
        "Revoke an API key (within a second on every worker)",
    ),
    (
        "post",
        "/v1/booklets",
        ("issuer",),
        "booklet-create.request",
        201,
        "booklet-issued",
        (400, 401, 403, 404, 409, 422),
        "Issue a booklet of signed vouchers",
    ),
    (
        "get",
        "/v1/booklets/{booklet_id}",
        ("issuer", "admin"),
        None,
        200,
        "booklet",
        (401, 403, 404),
        "A booklet and its vouchers' statuses",
    ),
    (
        "post",
        "/v1/vouchers/verify",
        ("partner",),
        "voucher-verify.request",
        200,
        "voucher-verification",
        (400, 401, 403, 404, 429),
        "What a redemption would meet (changes nothing)",
    ),
    (
        "post",
        "/v1/redemptions",
        ("partner",),
        "redemption-create.request",
        201,
        "redemption",
        (400, 401, 403, 404, 409, 410, 422, 429),
        "Redeem a voucher, exactly once",
    ),
    (
        "get",
        "/v1/redemptions",
        ("partner", "admin", "auditor"),
        None,
        200,
        "redemption-page",
        (400, 401, 403),
        "Redemptions, a page at a time",
    ),
    (
        "post",
        "/v1/redemptions/{redemption_id}/reversal",
        ("partner",),
        "reversal-create.request",
        200,
        "redemption",
        (400, 401, 403, 404, 409),
        "Reverse one's own redemption",
    ),
    (
        "get",
        "/v1/ledger/entries",
        ("auditor", "admin"),
        None,
        200,
        "ledger-entries",
        (400, 401, 403),
        "Integrated ledger entries",
    ),
    (
        "get",
        "/v1/ledger/entries/{entry_id}",
        ("auditor", "admin", "partner"),
        None,
        200,
        "ledger-entry",
        (401, 403, 404),
        "One entry and its inclusion proof",
    ),
    (
        "get",
        "/v1/ledger/proof/inclusion",
        ("auditor", "admin", "partner"),
        None,
        200,
        "proof",
        (400, 401, 403),
        "Inclusion proof",
    ),
    (
        "get",
        "/v1/ledger/proof/consistency",
        ("auditor", "admin"),
        None,
        200,
        "proof",
        (400, 401, 403),
        "Consistency proof",
    ),
    (
        "get",
        "/v1/ledger/balances",
        ("auditor", "admin"),
        None,
        200,
        "balances",
        (400, 401, 403),
        "Balances over a prefix of the log",
    ),
    ("get", "/.well-known/jwks.json", None, None, 200, "jwks", (), "Voucher-signing public keys"),
    ("get", "/healthz", None, None, 200, "health", (), "Liveness"),
    ("get", "/readyz", None, None, 200, "health", (503,), "Readiness (includes the database)"),
]

# Answers that are not JSON: (method, path, roles or None for public, media type, summary).
RAW_OPERATIONS: list[tuple[str, str, tuple[str, ...] | None, str, str]] = [
    ("get", "/v1/ledger/checkpoint", None, "text/plain", "The latest signed checkpoint (C2SP)"),
    ("get", "/v1/ledger/checkpoint/key", None, "text/plain", "The checkpoint's verifier key"),
    ("get", "/v1/ledger/export.csv", ("auditor", "admin"), "text/csv", "Postings as CSV, streamed"),
    ("get", "/v1/audit/bundle", ("auditor", "admin"), "application/zip", "The audit bundle"),
    ("get", "/problems/{slug}", None, "text/html", "What a problem type means (fr, en)"),
]

PARAMETERS: dict[str, list[tuple[str, str, dict[str, Any], bool]]] = {
    "/v1/partners": [
        ("near", "query", {"type": "string", "pattern": r"^-?\d+(\.\d+)?,-?\d+(\.\d+)?$"}, False),
        ("radius_km", "query", {"type": "number", "exclusiveMinimum": 0, "maximum": 1000}, False),
        ("program_id", "query", {"type": "string", "maxLength": 36}, False),
        ("service", "query", {"type": "string", "maxLength": 100}, False),
        ("limit", "query", {"type": "integer", "minimum": 1, "maximum": 500}, False),
    ],
    "/v1/redemptions": [
        ("from", "query", {"type": "string", "format": "date-time"}, False),
        ("to", "query", {"type": "string", "format": "date-time"}, False),
        ("limit", "query", {"type": "integer", "minimum": 1, "maximum": 500}, False),
        ("cursor", "query", {"type": "string", "maxLength": 200}, False),
    ],
    "/v1/ledger/entries": [
        ("start", "query", {"type": "integer", "minimum": 0}, False),
        ("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000}, False),
        ("program_id", "query", {"type": "string", "maxLength": 36}, False),
        ("partner_id", "query", {"type": "string", "maxLength": 36}, False),
        ("kind", "query", {"type": "string"}, False),
        ("from", "query", {"type": "string", "format": "date-time"}, False),
        ("to", "query", {"type": "string", "format": "date-time"}, False),
    ],
    "/v1/ledger/proof/inclusion": [
        ("index", "query", {"type": "integer", "minimum": 0}, True),
        ("size", "query", {"type": "integer", "minimum": 1}, False),
    ],
    "/v1/ledger/proof/consistency": [
        ("first", "query", {"type": "integer", "minimum": 0}, True),
        ("second", "query", {"type": "integer", "minimum": 0}, True),
    ],
    "/v1/ledger/balances": [("size", "query", {"type": "integer", "minimum": 0}, False)],
}

IDEMPOTENT = {"/v1/booklets", "/v1/redemptions"}


@cache
def openapi_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        method, path = operation[0], operation[1]
        paths.setdefault(path, {})[method] = _operation(*operation)
    for method, path, roles, media, summary in RAW_OPERATIONS:
        paths.setdefault(path, {})[method] = _raw_operation(method, path, roles, media, summary)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "voucher-service",
            "version": "1.0.0",
            "description": "Signed QR vouchers for public digital-inclusion programmes, "
            "redeemed exactly once, with a tamper-evident double-entry ledger.",
        },
        "paths": paths,
        "components": {
            "schemas": {name: _component(schema) for name, schema in all_schemas().items()},
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation(
    method: str,
    path: str,
    roles: tuple[str, ...] | None,
    request: str | None,
    status: int,
    response: str | None,
    problems: tuple[int, ...],
    summary: str,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "operationId": f"{method}_{path.strip('/').replace('/', '_').replace('.', '')}",
        "responses": {str(status): _content(JSON, response, "Success")},
    }
    if roles is not None:
        operation["security"] = [{"apiKey": []}]
        operation["description"] = "Roles: " + ", ".join(roles) + "."
    parameters = [_parameter(*spec) for spec in PARAMETERS.get(path, [])]
    parameters += [_path_parameter(name) for name in _path_names(path)]
    if path in IDEMPOTENT:
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": True,
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            }
        )
    if parameters:
        operation["parameters"] = parameters
    if request is not None:
        operation["requestBody"] = {"required": True, **_content(JSON, request, "")}
        del operation["requestBody"]["description"]
    for problem in problems:
        operation["responses"][str(problem)] = _content(PROBLEM, "problem", "Problem")
    if roles is not None:  # the database (or, for codes, Redis) out of reach
        operation["responses"]["503"] = _content(PROBLEM, "problem", "Problem")
    return operation


def _raw_operation(
    method: str, path: str, roles: tuple[str, ...] | None, media: str, summary: str
) -> dict[str, Any]:
    schema = (
        {"type": "string"} if media.startswith("text/") else {"type": "string", "format": "binary"}
    )
    operation: dict[str, Any] = {
        "summary": summary,
        "operationId": f"{method}_{path.strip('/').replace('/', '_').replace('.', '_')}",
        "responses": {"200": {"description": summary, "content": {media: {"schema": schema}}}},
    }
    if roles is not None:
        operation["security"] = [{"apiKey": []}]
        operation["description"] = "Roles: " + ", ".join(roles) + "."
        operation["responses"]["401"] = _content(PROBLEM, "problem", "Problem")
        operation["responses"]["403"] = _content(PROBLEM, "problem", "Problem")
        operation["responses"]["503"] = _content(PROBLEM, "problem", "Problem")
    if "{slug}" in path:
        operation["parameters"] = [
            {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}
        ]
        operation["responses"]["404"] = _content(PROBLEM, "problem", "Problem")
    return operation


def _content(media: str, schema: str | None, description: str) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description or "Body"}
    if schema is not None:
        answer["content"] = {media: {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
    return answer


def _parameter(name: str, where: str, schema: dict[str, Any], required: bool) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, "schema": schema}


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _path_parameter(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "format": "uuid"},
    }


def _component(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema as a component: file references become component references."""

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: (
                    f"#/components/schemas/{value.removesuffix('.json')}"
                    if key == "$ref" and isinstance(value, str)
                    else rewrite(value)
                )
                for key, value in node.items()
                if key not in ("$id", "$schema")
            }
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node

    result: dict[str, Any] = rewrite(schema)
    return result
