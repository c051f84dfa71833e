"""The lifecycle operations of the OpenAPI document, with their examples (see areas.py)."""

from __future__ import annotations

from voucher_service.web.openapi.areas import Area

AREA = Area()
