"""Identifiers: random UUIDs as strings (CONTRACT: ids are UUIDs unless said otherwise)."""

from __future__ import annotations

import uuid


def new_id() -> str:
    return str(uuid.uuid4())
