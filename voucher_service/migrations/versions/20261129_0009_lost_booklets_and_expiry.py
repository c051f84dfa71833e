"""Lost booklets (cancellation, reissue) and expiry; allocations of more budget.

A booklet gains its cancellation (when, by whom, why) and the booklet it replaces, once (a
unique index). Vouchers gain an index on (programme, expiry) for the daily expiry and the
list of vouchers expiring soon: neither column changes when a voucher is redeemed, so the
redemption's UPDATE stays HOT. Allocations are ledger transfers: no table of their own.

Revision ID: 20261129_0009
Revises: 20261129_0008
Create Date: 2026-11-29 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261129_0009"
down_revision = "20261129_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("booklets", sa.Column("cancelled_at", sa.DateTime(timezone=True)))
    op.add_column("booklets", sa.Column("cancelled_by", sa.String(length=36)))
    op.add_column("booklets", sa.Column("cancellation_reason", sa.String(length=500)))
    if op.get_bind().dialect.name == "sqlite":
        # A column added with its REFERENCES clause: the one foreign key SQLite adds in place.
        op.execute(
            "ALTER TABLE booklets ADD COLUMN replaces_id VARCHAR(36) REFERENCES booklets (id)"
        )
    else:
        op.add_column("booklets", sa.Column("replaces_id", sa.String(length=36), nullable=True))
        op.create_foreign_key(
            "fk_booklets_replaces_id_booklets", "booklets", "booklets", ["replaces_id"], ["id"]
        )
    op.create_index("uq_booklets_replaces", "booklets", ["replaces_id"], unique=True)
    op.create_index("ix_vouchers_program_expiry", "vouchers", ["program_id", "expires_at"])


def downgrade() -> None:
    op.drop_index("ix_vouchers_program_expiry", table_name="vouchers")
    op.drop_index("uq_booklets_replaces", table_name="booklets")
    # On SQLite, by copying the table: possible only while no voucher exists.
    with op.batch_alter_table("booklets", schema=None) as batch_op:
        if op.get_bind().dialect.name != "sqlite":
            batch_op.drop_constraint("fk_booklets_replaces_id_booklets", type_="foreignkey")
        batch_op.drop_column("replaces_id")
        batch_op.drop_column("cancellation_reason")
        batch_op.drop_column("cancelled_by")
        batch_op.drop_column("cancelled_at")
