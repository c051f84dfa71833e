"""Status lists: each voucher's index in its programme's Token Status List, and capacity.

Every voucher gets `status_index`, unique within its programme, and every programme the size
of its list and how many indices its vouchers hold. The vouchers issued before this revision
are given random indices here (the same rule as issuance: uniform over a list at most half
full), so that the column is NOT NULL from the start; their tokens, signed without `s`, stay
good, and their reprints carry it.

SQLite adds a NOT NULL column only with a default (and cannot drop one later without copying
the table, which the redemptions' foreign key forbids once a voucher exists): there the
column keeps a default of 0, which the service never relies on (it always names the index)
and which the unique index would refuse for a second voucher. PostgreSQL has none.

Revision ID: 20261129_0007
Revises: 20261129_0006
Create Date: 2026-11-29 18:00:00
"""

from __future__ import annotations

import random
from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = "20261129_0007"
down_revision = "20261129_0006"
branch_labels = None
depends_on = None

# As voucher_service.statuslists.capacity, copied: a migration does not follow later code.
MIN_CAPACITY = 2**17


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.add_column(
        "programs",
        sa.Column(
            "status_list_capacity",
            sa.Integer(),
            nullable=False,
            server_default=sa.text(str(MIN_CAPACITY)),
        ),
    )
    op.add_column(
        "programs",
        sa.Column("status_list_count", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column(
        "vouchers",
        sa.Column(
            "status_index",
            sa.Integer(),
            nullable=not sqlite,
            server_default="0" if sqlite else None,
        ),
    )
    _give_indices()
    if not sqlite:
        op.alter_column("vouchers", "status_index", nullable=False)
        op.alter_column("programs", "status_list_capacity", server_default=None)
        op.alter_column("programs", "status_list_count", server_default=None)
    op.create_index(
        "uq_vouchers_program_status_index",
        "vouchers",
        ["program_id", "status_index"],
        unique=True,
    )


def _give_indices() -> None:
    """Random distinct indices for the vouchers that exist, programme by programme."""
    bind = op.get_bind()
    vouchers: dict[str, list[str]] = defaultdict(list)
    for voucher_id, program_id in bind.execute(
        sa.text("SELECT id, program_id FROM vouchers ORDER BY id")
    ):
        vouchers[program_id].append(voucher_id)
    draw = random.SystemRandom()
    for program_id, ids in vouchers.items():
        capacity = MIN_CAPACITY
        while 2 * len(ids) > capacity:
            capacity *= 2
        indices = draw.sample(range(capacity), len(ids))
        bind.execute(
            sa.text("UPDATE vouchers SET status_index = :index WHERE id = :id"),
            [
                {"index": index, "id": voucher_id}
                for index, voucher_id in zip(indices, ids, strict=True)
            ],
        )
        bind.execute(
            sa.text(
                "UPDATE programs SET status_list_capacity = :capacity, "
                "status_list_count = :count WHERE id = :id"
            ),
            {"capacity": capacity, "count": len(ids), "id": program_id},
        )


def downgrade() -> None:
    op.drop_index("uq_vouchers_program_status_index", table_name="vouchers")
    if op.get_bind().dialect.name == "sqlite":
        # In place (SQLite ≥ 3.35): copying the table is what the foreign keys forbid.
        op.execute("ALTER TABLE vouchers DROP COLUMN status_index")
        op.execute("ALTER TABLE programs DROP COLUMN status_list_count")
        op.execute("ALTER TABLE programs DROP COLUMN status_list_capacity")
    else:
        op.drop_column("vouchers", "status_index")
        op.drop_column("programs", "status_list_count")
        op.drop_column("programs", "status_list_capacity")
