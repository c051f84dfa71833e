"""Account totals by kind of transfer, kept by the sequencer: flat-cost figures and budgets.

Revision ID: 20261129_0003
Revises: 20261127_0002
Create Date: 2026-11-29 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261129_0003"
down_revision = "20261127_0002"
branch_labels = None
depends_on = None

TABLE = "account_totals"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("account", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account", "kind"),
    )
    # What the sequencer has integrated so far, summed as it will sum each later batch.
    op.execute(
        """
        INSERT INTO account_totals (account, kind, amount)
        SELECT account, kind, SUM(amount) FROM (
            SELECT p.destination AS account, t.kind AS kind, p.amount AS amount
            FROM ledger_postings p
            JOIN ledger_transfers t ON t.id = p.transfer_id
            JOIN ledger_leaves l ON l.transfer_id = p.transfer_id
            UNION ALL
            SELECT p.source, t.kind, -p.amount
            FROM ledger_postings p
            JOIN ledger_transfers t ON t.id = p.transfer_id
            JOIN ledger_leaves l ON l.transfer_id = p.transfer_id
        ) moved
        GROUP BY account, kind
        """
    )


def downgrade() -> None:
    op.drop_table(TABLE)
