"""The OpenAPI 3.1 document, built from the operations table, the examples and `schemas/`."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from voucher_service.schemas import PLAIN_MESSAGES, all_schemas
from voucher_service.web.openapi.batch_examples import BATCH_EXAMPLES
from voucher_service.web.openapi.examples import EXAMPLES, RAW_EXAMPLES, problem_example
from voucher_service.web.openapi.operations import (
    IDEMPOTENCY_KEY,
    IDEMPOTENT,
    NOTES,
    OPERATIONS,
    PARAMETERS,
    PATH_PARAMETERS,
    RAW_OPERATIONS,
    Operation,
    Parameter,
    RawOperation,
    Roles,
)

JSON = "application/json"
PATH_NAME = re.compile(r"\{([a-z_]+)\}")
# Path parameters that are not ids (an id is a UUID).
PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    "program_code": {"type": "string", "minLength": 1, "maxLength": 16},
}
PROBLEM = "application/problem+json"

LOCATION = {
    "description": "Where the new resource is (a path on this service).",
    "schema": {"type": "string"},
}
REPLAYED = {
    "description": "`true` when this is the stored answer of an earlier request with the same "
    "Idempotency-Key.",
    "schema": {"const": "true"},
}


@cache
def openapi_document(base_url: str) -> dict[str, Any]:
    """The document as this service (at `base_url`, its PUBLIC_BASE_URL) serves it."""
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.path, {})[operation.method] = _operation(operation, base_url)
    for raw in RAW_OPERATIONS:
        paths.setdefault(raw.path, {})[raw.method] = _raw_operation(raw, base_url)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "voucher-service",
            "version": "1.0.0",
            "description": "Signed QR vouchers for public digital-inclusion programmes, "
            "redeemed exactly once, with a tamper-evident double-entry ledger. Every `/v1` "
            "call carries `Authorization: Bearer <API key>`; every refusal is an RFC 9457 "
            "problem whose `type` is a page that explains it.",
        },
        "servers": [{"url": base_url, "description": "This service"}],
        "tags": [{"name": name} for name in _tags()],
        "paths": paths,
        "components": {
            "schemas": {name: _component(schema) for name, schema in all_schemas().items()},
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key (`vsk_…`), shown once when it is made.",
                }
            },
        },
    }


def _tags() -> list[str]:
    names = [operation.tag for operation in OPERATIONS] + [raw.tag for raw in RAW_OPERATIONS]
    return list(dict.fromkeys(names))


def _operation(operation: Operation, base_url: str) -> dict[str, Any]:
    examples = EXAMPLES.get(operation.operation_id) or BATCH_EXAMPLES[operation.operation_id]
    success = _content(operation.media, operation.response, operation.summary, examples.response)
    if operation.status == 201:
        success["headers"] = {"Location": LOCATION}
    if (operation.method, operation.path) in IDEMPOTENT:
        success.setdefault("headers", {})["Idempotent-Replayed"] = REPLAYED
    answer: dict[str, Any] = {
        "summary": operation.summary,
        "operationId": operation.operation_id,
        "tags": [operation.tag],
        "responses": {str(operation.status): success},
    }
    _describe(answer, operation.operation_id, operation.roles)
    parameters = [_parameter(p) for p in PARAMETERS.get((operation.method, operation.path), [])]
    parameters += [_path_parameter(name) for name in _path_names(operation.path)]
    if (operation.method, operation.path) in IDEMPOTENT:
        parameters.append(_parameter(IDEMPOTENCY_KEY))
    if parameters:
        answer["parameters"] = parameters
    if operation.request is not None:
        assert examples.request is not None, operation.operation_id
        body = _content(JSON, operation.request, "", examples.request)
        answer["requestBody"] = {"required": True, "content": body["content"]}
    problems = [*operation.problems, *([503] if operation.roles is not None else [])]
    body_error = _body_error(operation.request) if operation.request else None
    query = next((p["name"] for p in parameters if p["in"] == "query"), None)
    for status in problems:  # 503: the database (or, for codes, Redis) out of reach
        example = problem_example(
            base_url, operation.operation_id, status, body_error=body_error, query=query
        )
        answer["responses"][str(status)] = _content(
            PROBLEM, "problem", example["title"], {example["type"].rpartition("/")[2]: example}
        )
    return answer


def _raw_operation(raw: RawOperation, base_url: str) -> dict[str, Any]:
    binary = not raw.media.startswith("text/")
    media: dict[str, Any] = {
        "schema": {"type": "string", **({"format": "binary"} if binary else {})}
    }
    if raw.operation_id in RAW_EXAMPLES:
        media["example"] = RAW_EXAMPLES[raw.operation_id]
    answer: dict[str, Any] = {
        "summary": raw.summary,
        "operationId": raw.operation_id,
        "tags": [raw.tag],
        "responses": {"200": {"description": raw.summary, "content": {raw.media: media}}},
    }
    _describe(answer, raw.operation_id, raw.roles)
    problems = [401, 403, 503] if raw.roles is not None else []
    parameters = [_parameter(p) for p in PARAMETERS.get((raw.method, raw.path), [])]
    query = parameters[0]["name"] if parameters else None
    if query is not None:
        problems.append(400)
    if "{slug}" in raw.path:
        parameters.append(_path_parameter("slug", {"type": "string", "maxLength": 60}))
    else:
        parameters += [_path_parameter(name) for name in _path_names(raw.path)]
    if parameters:
        answer["parameters"] = parameters
    if "{" in raw.path:
        problems.append(404)
    for status in sorted(problems):
        example = problem_example(base_url, raw.operation_id, status, body_error=None, query=query)
        answer["responses"][str(status)] = _content(
            PROBLEM, "problem", example["title"], {example["type"].rpartition("/")[2]: example}
        )
    return answer


def _body_error(request: str) -> dict[str, str]:
    """What a 400 says of a body that misses its first required member (or, for a body of
    alternatives, all of them; for a body of optional members, every one)."""
    schema = all_schemas()[request]
    if schema.get("required"):
        return {"path": "", "message": f"'{schema['required'][0]}' is a required property"}
    if "oneOf" not in schema:  # a body of optional members (a PATCH): one at least
        return {"path": "", "message": "{} should be non-empty"}
    return {"path": "", "message": PLAIN_MESSAGES["oneOf"]}


def _describe(answer: dict[str, Any], operation_id: str, roles: Roles) -> None:
    lines = [NOTES[operation_id]] if operation_id in NOTES else []
    if roles is not None:
        answer["security"] = [{"apiKey": []}]
        lines.insert(0, "Roles: " + ", ".join(roles) + ".")
    else:
        answer["security"] = []
        lines.insert(0, "Public: no API key.")
    answer["description"] = "\n\n".join(lines)


def _content(
    media: str, schema: str | None, description: str, examples: dict[str, Any]
) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description or "Body"}
    if schema is not None:
        answer["content"] = {
            media: {
                "schema": {"$ref": f"#/components/schemas/{schema}"},
                "examples": {name: {"value": value} for name, value in examples.items()},
            }
        }
    return answer


def _parameter(parameter: Parameter) -> dict[str, Any]:
    return {
        "name": parameter.name,
        "in": parameter.where,
        "required": parameter.required,
        "description": parameter.description,
        "schema": parameter.schema,
    }


def _path_names(path: str) -> list[str]:
    """The path's parameters, a segment's suffix aside (`{partner_id}.csv`)."""
    return PATH_NAME.findall(path)


def _path_parameter(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": PATH_PARAMETERS[name],
        "schema": schema or PATH_SCHEMAS.get(name, {"type": "string", "format": "uuid"}),
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
