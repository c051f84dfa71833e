"""The auditor's page, /audit: each programme's money at a glance, the log's health."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("audit_pages", __name__)
