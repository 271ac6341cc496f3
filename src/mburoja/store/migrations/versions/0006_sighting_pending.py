"""Detection: the (indicator, window) pairs whose sighting is owed a rewrite.

A row is set in the transaction that stores new hits of the window and cleared once a
sighting counting them is stored; a row left behind (the process failed in between) is
rewritten when a detector next starts or refreshes. ``version`` grows with every batch
that adds hits, so a writer clears only the state it summed up.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sighting_pending",
        sa.Column("indicator_id", sa.Text, primary_key=True),
        sa.Column("window_start", sa.BigInteger, primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("marked", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sighting_pending")
