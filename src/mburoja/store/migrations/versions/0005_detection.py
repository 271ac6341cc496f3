"""Detection: the telemetry records that hit an indicator, one row per (indicator, record).

Sightings are aggregates of these rows; keeping the record ids is what makes a redelivered
record (NATS at-least-once, a re-read log) count once.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sighting_hits",
        sa.Column("indicator_id", sa.Text, primary_key=True),
        sa.Column("rid", sa.Text, primary_key=True),
        sa.Column("window_start", sa.BigInteger, nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_index("sighting_hits_window", "sighting_hits", ["indicator_id", "window_start"])


def downgrade() -> None:
    op.drop_index("sighting_hits_window", "sighting_hits")
    op.drop_table("sighting_hits")
