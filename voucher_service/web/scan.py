"""The voucher page, /r: what a voucher is worth, and redeeming it for a signed-in venue."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("scan", __name__)
