"""The one place that knows the JSON Schemas of `schemas/`: loads, validates, lists them."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, validators
from referencing import Registry, Resource

from voucher_service.errors import InvalidRequest

# In the package: in a checkout, a link to the top-level `schemas/` (their one source); in a
# wheel, their copy (pyproject.toml's package-data).
PACKAGED = Path(__file__).parent / "jsonschemas"


def schemas_dir() -> Path:
    """Where the JSON Schemas are: VOUCHER_SERVICE_SCHEMAS if set, else inside the package;
    in a checkout whose link did not survive (a system without symbolic links), the
    top-level `schemas/` beside `pyproject.toml`."""
    configured = os.environ.get("VOUCHER_SERVICE_SCHEMAS")
    if configured:
        return Path(configured)
    checkout = Path(__file__).resolve().parents[1]
    if not PACKAGED.is_dir() and (checkout / "pyproject.toml").is_file():
        return checkout / "schemas"
    return PACKAGED


@cache
def all_schemas() -> dict[str, dict[str, Any]]:
    """Every schema by its file name without `.json`."""
    directory = schemas_dir()
    found = sorted(directory.glob("*.json")) if directory.is_dir() else []
    if not found:
        raise RuntimeError(f"the JSON Schemas are missing: {directory} (VOUCHER_SERVICE_SCHEMAS)")
    return {path.stem: json.loads(path.read_bytes()) for path in found}


@cache
def _registry() -> Registry[Any]:
    resources = [
        (f"{name}.json", Resource.from_contents(schema)) for name, schema in all_schemas().items()
    ]
    return Registry().with_resources(resources)


def _whole_number(_checker: Any, instance: Any) -> bool:
    """JSON Schema's integer admits 2.0; ours does not, so that a count is a count."""
    return isinstance(instance, int) and not isinstance(instance, bool)


# The request validator: integers are whole numbers written as such.
StrictValidator = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _whole_number),
)


@cache
def validator(name: str) -> Any:
    schema = all_schemas()[name]
    return StrictValidator(schema, registry=_registry())


# What a violation of a combining keyword means to a caller: jsonschema's own message for
# these recites the schema (`None is valid under each of {...}`).
PLAIN_MESSAGES = {
    "oneOf": "give exactly one of the alternatives this field allows (e.g. a token or a code)",
    "anyOf": "matches none of the forms this field allows",
    "allOf": "does not meet every condition on this field",
    "not": "is a form this field refuses",
}


def plain_message(error: Any) -> str:
    """The violation in words, never the schema's internals."""
    if error.validator == "pattern":
        # jsonschema's own message recites the regular expression; the field's description
        # says the form in words.
        hint = error.schema.get("description") if isinstance(error.schema, dict) else None
        return "is not in the expected form" + (f": {hint}" if hint else "")
    message: str = PLAIN_MESSAGES.get(error.validator, error.message)
    return message


def validate(name: str, instance: Any) -> None:
    """Raise InvalidRequest listing every violation (path as a JSON Pointer)."""
    errors = sorted(validator(name).iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        raise InvalidRequest(
            "the request body does not match its schema",
            [
                {
                    "path": "".join(f"/{part}" for part in error.absolute_path),
                    "message": plain_message(error),
                }
                for error in errors[:20]
            ],
        )


def check_text(value: Any, path: str = "") -> None:
    """Refuse text no database can store faithfully: NUL characters and lone surrogates."""
    if isinstance(value, str):
        if "\x00" in value or not _encodable(value):
            raise InvalidRequest(
                "text with a NUL character or an invalid code point",
                [{"path": path or "/", "message": "invalid characters"}],
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, path)
            check_text(item, f"{path}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_text(item, f"{path}/{index}")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
