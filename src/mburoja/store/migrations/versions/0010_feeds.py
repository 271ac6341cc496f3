"""Feeds: the registry of feeds added or switched on, their state (validators for conditional
GETs, health, the lease that keeps two workers from running one feed), and a row per run.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "feeds",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("created", sa.Text, nullable=False),
    )
    op.create_table(
        "feed_state",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("last_run", sa.Text),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("healthy", sa.Boolean, nullable=False),
        sa.Column("lease_holder", sa.Text),
        sa.Column("lease_until", sa.Float),
    )
    op.create_table(
        "feed_runs",
        sa.Column("id", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("feed", sa.Text, nullable=False),
        sa.Column("started", sa.Text, nullable=False),
        sa.Column("finished", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        *(
            sa.Column(name, sa.BigInteger, nullable=False)
            for name in ("received", "new", "new_versions", "unchanged", "rejected")
        ),
        sa.Column("ingest_id", sa.BigInteger),
        sa.Column("error", sa.Text),
    )
    op.create_index("feed_runs_feed", "feed_runs", ["feed", "id"])


def downgrade() -> None:
    op.drop_index("feed_runs_feed", table_name="feed_runs")
    for table in ("feed_runs", "feed_state", "feeds"):
        op.drop_table(table)
