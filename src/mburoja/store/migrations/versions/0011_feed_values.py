"""Feed runs remember what they saw: the values of full-snapshot feeds (to withdraw what a
feed stopped listing), each MISP feed's manifest timestamps (to fetch only changed events),
each TAXII feed's ``date_added`` cursor; and runs count events fetched/skipped and withdrawals.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_RUN_COUNTS = ("events_fetched", "events_skipped", "withdrawn")


def upgrade() -> None:
    op.create_table(
        "feed_values",
        sa.Column("feed", sa.Text, primary_key=True),
        sa.Column("indicator_id", sa.Text, primary_key=True),
        sa.Column("missing", sa.Integer, nullable=False),
        sa.Column("missing_since", sa.Text),
    )
    op.create_table(
        "feed_events",
        sa.Column("feed", sa.Text, primary_key=True),
        sa.Column("event_uuid", sa.Text, primary_key=True),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "feed_cursors",
        sa.Column("feed", sa.Text, primary_key=True),
        sa.Column("date_added_last", sa.Text),
        sa.Column("cut", sa.Boolean, nullable=False),
        sa.Column("updated", sa.Text, nullable=False),
    )
    with op.batch_alter_table("feed_runs") as batch:
        for name in _RUN_COUNTS:
            batch.add_column(sa.Column(name, sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("feed_runs") as batch:
        for name in _RUN_COUNTS:
            batch.drop_column(name)
    for table in ("feed_cursors", "feed_events", "feed_values"):
        op.drop_table(table)
