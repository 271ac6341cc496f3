"""Federation state: the outbox each peer is owed, provenance of relayed versions, per-peer
counters, and pull cursors.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("peer_id", sa.Text, primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("enqueued_at", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
    )
    op.create_index("outbox_due", "outbox", ["peer_id", "status", "seq"])
    op.create_table(
        "provenance",
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("origin", sa.Text, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("signature", sa.Text),
    )
    op.create_table(
        "peer_state",
        sa.Column("peer_id", sa.Text, primary_key=True),
        *(
            sa.Column(name, sa.BigInteger, nullable=False, server_default="0")
            for name in ("delivered", "withheld", "refused", "received", "rejected")
        ),
        *(sa.Column(name, sa.Text) for name in ("last_success", "last_error", "last_error_at")),
        sa.Column("last_lag_s", sa.Float),
    )
    op.create_table(
        "peer_cursors",
        sa.Column("peer_id", sa.Text, primary_key=True),
        sa.Column("collection", sa.Text, primary_key=True),
        sa.Column("cursor", sa.Text, nullable=False),
        sa.Column("updated", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("peer_cursors", "peer_state", "provenance"):
        op.drop_table(table)
    op.drop_index("outbox_due", "outbox")
    op.drop_table("outbox")
