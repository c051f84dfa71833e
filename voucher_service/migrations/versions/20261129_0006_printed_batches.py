"""Pre-printed batches: booklets printed before they have a beneficiary, activated later.

A booklet printed ahead has no beneficiary until its activation: its `beneficiary_hash` is
empty meanwhile (no case reference's hash is), so that `booklets` is only added to. SQLite
changes a column or a constraint only by copying the table, dropping it and renaming the copy,
which the vouchers' foreign key to `booklets` forbids once a voucher exists (foreign keys are on,
and a migration runs inside one transaction, where they cannot be turned off).

Revision ID: 20261129_0006
Revises: 20261129_0005
Create Date: 2026-11-29 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261129_0006"
down_revision = "20261129_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "booklet_batches",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("program_id", sa.String(length=36), nullable=False),
        sa.Column("organisation_id", sa.String(length=36), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"]),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_booklet_batches_organisation_id", "booklet_batches", ["organisation_id"])
    if op.get_bind().dialect.name == "sqlite":
        # A column added with its REFERENCES clause: the one foreign key SQLite adds in place.
        op.execute(
            "ALTER TABLE booklets ADD COLUMN batch_id VARCHAR(36) REFERENCES booklet_batches (id)"
        )
    else:
        op.add_column("booklets", sa.Column("batch_id", sa.String(length=36), nullable=True))
        op.create_foreign_key(
            "fk_booklets_batch_id_booklet_batches",
            "booklets",
            "booklet_batches",
            ["batch_id"],
            ["id"],
        )
    op.add_column("booklets", sa.Column("activated_at", sa.DateTime(timezone=True)))
    op.add_column("booklets", sa.Column("activated_by", sa.String(length=36)))
    op.create_index("ix_booklets_batch_id", "booklets", ["batch_id"])


def downgrade() -> None:
    op.drop_index("ix_booklets_batch_id", table_name="booklets")
    # On SQLite, by copying the table: possible only while no voucher exists.
    with op.batch_alter_table("booklets", schema=None) as batch_op:
        if op.get_bind().dialect.name != "sqlite":
            batch_op.drop_constraint("fk_booklets_batch_id_booklet_batches", type_="foreignkey")
        batch_op.drop_column("activated_by")
        batch_op.drop_column("activated_at")
        batch_op.drop_column("batch_id")
    op.drop_index("ix_booklet_batches_organisation_id", table_name="booklet_batches")
    op.drop_table("booklet_batches")
