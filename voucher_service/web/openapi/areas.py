"""The document's later areas (status lists, settlements, lost booklets and expiry, reports):
each keeps its operations, parameters and examples in a module of its own, and is added to
the tables of operations.py and examples.py here, once, when the package is imported."""

from __future__ import annotations

from dataclasses import dataclass, field

from voucher_service.web.openapi import examples, operations
from voucher_service.web.openapi.examples import Examples
from voucher_service.web.openapi.operations import Operation, Parameter, RawOperation


@dataclass
class Area:
    """What one area adds to the document; every name as in operations.py and examples.py."""

    operations: list[Operation] = field(default_factory=list)
    raw_operations: list[RawOperation] = field(default_factory=list)
    parameters: dict[tuple[str, str], list[Parameter]] = field(default_factory=dict)
    path_parameters: dict[str, str] = field(default_factory=dict)
    idempotent: set[tuple[str, str]] = field(default_factory=set)
    notes: dict[str, str] = field(default_factory=dict)
    examples: dict[str, Examples] = field(default_factory=dict)
    raw_examples: dict[str, str] = field(default_factory=dict)
    problems: dict[tuple[str, int], tuple[str, str, str]] = field(default_factory=dict)


def include(area: Area) -> None:
    """Add an area's operations and examples to the tables the document is built from."""
    operations.OPERATIONS.extend(area.operations)
    operations.RAW_OPERATIONS.extend(area.raw_operations)
    operations.PARAMETERS.update(area.parameters)
    operations.PATH_PARAMETERS.update(area.path_parameters)
    operations.IDEMPOTENT.update(area.idempotent)
    operations.NOTES.update(area.notes)
    examples.EXAMPLES.update(area.examples)
    examples.RAW_EXAMPLES.update(area.raw_examples)
    examples.PROBLEMS_BY_OPERATION.update(area.problems)
