"""Settlements: partners' bank accounts, the debtor account, settlements, statements, lines.

New nullable columns and new tables only (SQLite changes nothing else in place). A redemption
is in one live statement at most: a partial unique index says so on both backends.

Revision ID: 20261129_0008
Revises: 20261129_0007
Create Date: 2026-11-29 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261129_0008"
down_revision = "20261129_0007"
branch_labels = None
depends_on = None

LIVE = sa.text("released_at IS NULL")


def upgrade() -> None:
    op.add_column("partners", sa.Column("bank_holder", sa.String(length=70), nullable=True))
    op.add_column("partners", sa.Column("bank_iban", sa.String(length=34), nullable=True))
    op.add_column("partners", sa.Column("bank_bic", sa.String(length=11), nullable=True))
    op.add_column("programs", sa.Column("debtor_name", sa.String(length=70), nullable=True))
    op.add_column("programs", sa.Column("debtor_iban", sa.String(length=34), nullable=True))
    op.add_column("programs", sa.Column("debtor_bic", sa.String(length=11), nullable=True))
    op.create_table(
        "settlements",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("program_id", sa.String(length=36), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("cutoff", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total_cents", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=False),
        sa.Column("payment_msg_id", sa.String(length=35), nullable=True),
        sa.Column("payment_file", sa.LargeBinary(), nullable=True),
        sa.Column("payment_file_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_settlements_program_period", "settlements", ["program_id", "period"])
    op.create_table(
        "settlement_statements",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("settlement_id", sa.String(length=36), nullable=False),
        sa.Column("partner_id", sa.String(length=36), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("settle_transfer_id", sa.String(length=36), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("close_transfer_id", sa.String(length=36), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.id"]),
        sa.ForeignKeyConstraint(["settlement_id"], ["settlements.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("settlement_id", "partner_id", name="uq_statements_settlement_partner"),
    )
    op.create_index("ix_statements_partner", "settlement_statements", ["partner_id"])
    op.create_table(
        "settlement_lines",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("statement_id", sa.String(length=36), nullable=False),
        sa.Column("redemption_id", sa.String(length=36), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["redemption_id"], ["redemptions.id"]),
        sa.ForeignKeyConstraint(["statement_id"], ["settlement_statements.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_settlement_lines_statement", "settlement_lines", ["statement_id"])
    op.create_index(
        "uq_settlement_lines_live_redemption",
        "settlement_lines",
        ["redemption_id"],
        unique=True,
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )


def downgrade() -> None:
    op.drop_index(
        "uq_settlement_lines_live_redemption",
        table_name="settlement_lines",
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )
    op.drop_index("ix_settlement_lines_statement", table_name="settlement_lines")
    op.drop_table("settlement_lines")
    op.drop_index("ix_statements_partner", table_name="settlement_statements")
    op.drop_table("settlement_statements")
    op.drop_index("ix_settlements_program_period", table_name="settlements")
    op.drop_table("settlements")
    # On SQLite, by copying the table: possible only while nothing refers to its rows.
    with op.batch_alter_table("programs", schema=None) as batch_op:
        batch_op.drop_column("debtor_bic")
        batch_op.drop_column("debtor_iban")
        batch_op.drop_column("debtor_name")
    with op.batch_alter_table("partners", schema=None) as batch_op:
        batch_op.drop_column("bank_bic")
        batch_op.drop_column("bank_iban")
        batch_op.drop_column("bank_holder")
