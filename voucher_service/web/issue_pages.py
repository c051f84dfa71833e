"""The issuer's pages, /issue: issue and print a booklet, find, cancel and reissue."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("issue_pages", __name__)
