"""Settlements: partners' bank accounts, the debtor account, settlements, statements, lines.

Revision ID: 20261129_0008
Revises: 20261129_0007
Create Date: 2026-11-29 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "20261129_0008"
down_revision = "20261129_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
