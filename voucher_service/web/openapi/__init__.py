"""The OpenAPI 3.1 document of the API, its schemas taken from `schemas/` (one source for both)."""

from __future__ import annotations

from voucher_service.web.openapi.document import openapi_document
from voucher_service.web.openapi.operations import OPERATIONS, RAW_OPERATIONS

__all__ = ["OPERATIONS", "RAW_OPERATIONS", "openapi_document"]
