"""Token Status Lists (draft-ietf-oauth-status-list): each programme's list, public."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("statuslists", __name__)
