"""The OpenAPI 3.1 document of the API, its schemas taken from `schemas/` (one source for both)."""

from __future__ import annotations

from voucher_service.web.openapi import (
    lifecycle_api,
    people_api,
    report_api,
    settlement_api,
    status_list_api,
)
from voucher_service.web.openapi.areas import include
from voucher_service.web.openapi.document import openapi_document
from voucher_service.web.openapi.operations import OPERATIONS, RAW_OPERATIONS

for _area in (status_list_api, settlement_api, lifecycle_api, report_api, people_api):
    include(_area.AREA)

__all__ = ["OPERATIONS", "RAW_OPERATIONS", "openapi_document"]
