"""Federation peers: other Mburoja instances or TAXII 2.1 servers we push to and pull from.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "peers",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        *(sa.Column(n, sa.Text, nullable=False) for n in ("api_root", "kind", "org_id")),
        *(sa.Column(n, sa.Text) for n in ("user", "secret_env")),
        *(sa.Column(n, sa.Text, nullable=False) for n in ("push", "pull")),
        sa.Column("public_key", sa.Text),
        *(sa.Column(n, sa.Boolean, nullable=False) for n in ("must_sign", "enabled")),
        sa.Column("created", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("peers")
