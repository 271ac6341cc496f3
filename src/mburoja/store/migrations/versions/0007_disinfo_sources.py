"""Counter-disinformation: the watch list of outlets and accounts, and what each fetched URL
answered last (its validators for conditional GET).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "disinfo_sources",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("platform", sa.Text, nullable=False),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("lang", sa.Text),
        sa.Column("tlp", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created", sa.Text, nullable=False),
        sa.UniqueConstraint("kind", "platform", "location", name="disinfo_sources_where"),
    )
    op.create_table(
        "disinfo_fetch_state",
        sa.Column("url", sa.Text, primary_key=True),
        sa.Column("source_id", sa.Text, nullable=False),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("status", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("content_sha256", sa.Text),
        sa.Column("checked", sa.Text, nullable=False),
        sa.Column("changed", sa.Text),
    )
    op.create_index("disinfo_fetch_state_source", "disinfo_fetch_state", ["source_id"])


def downgrade() -> None:
    op.drop_index("disinfo_fetch_state_source", "disinfo_fetch_state")
    op.drop_table("disinfo_fetch_state")
    op.drop_table("disinfo_sources")
