"""Settlements: bank details, monthly statements, the SEPA payment file, confirm or reject."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("settlements", __name__)
