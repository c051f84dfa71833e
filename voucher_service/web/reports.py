"""Reports for funders: monthly figures by partner and by organisation, read from the ledger."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("reports", __name__)
