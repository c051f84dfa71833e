"""The end of vouchers' lives: lost booklets (cancellation, reissue), expiry, more budget."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("lifecycle", __name__)
