"""Booklets found by person within an organisation: GET /v1/booklets?beneficiary_ref=.

Revision ID: 20261129_0004
Revises: 20261129_0003
Create Date: 2026-11-29 11:15:00
"""

from __future__ import annotations

from alembic import op

revision = "20261129_0004"
down_revision = "20261129_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_booklets_organisation_beneficiary",
        "booklets",
        ["organisation_id", "beneficiary_hash"],
    )


def downgrade() -> None:
    op.drop_index("ix_booklets_organisation_beneficiary", table_name="booklets")
