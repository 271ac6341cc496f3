"""Organisations, users, API tokens, collection access, TAXII status resources, the
``date_added`` clock, the owner of each object, and whether the policy must read its bytes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _text(*names: str, nullable: bool = False) -> list[sa.Column[str]]:
    return [sa.Column(n, sa.Text, nullable=nullable) for n in names]


def _flags(*names: str) -> list[sa.Column[bool]]:
    return [sa.Column(n, sa.Boolean, nullable=False) for n in names]


#: What makes an object's bytes need the policy's closer look (see ``store.schema``).
_INSPECT_MARKS = (b"granular_markings", b"x_mburoja_recipients", b"\\u")


def _flag_objects_to_inspect() -> None:
    """Objects stored before this revision get the ``inspect`` flag new writes compute."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        test = " OR ".join(f"instr(raw, X'{mark.hex()}') > 0" for mark in _INSPECT_MARKS)
        value = "1"
    else:
        test = " OR ".join(
            f"position('\\x{mark.hex()}'::bytea in raw) > 0" for mark in _INSPECT_MARKS
        )
        value = "true"
    op.execute(f"UPDATE objects SET inspect = {value} WHERE {test}")


def upgrade() -> None:
    with op.batch_alter_table("objects") as batch:
        batch.add_column(sa.Column("owner", sa.Text))
        batch.add_column(sa.Column("inspect", sa.Boolean))
    _flag_objects_to_inspect()
    op.create_table(
        "orgs",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("identity_id", sa.Text, nullable=False, unique=True),
        *_text("relation", "created"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Text, primary_key=True),
        *_text("org_id"),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("identity_id", sa.Text, nullable=False, unique=True),
        *_text("role", "kind"),
        *_flags("disabled"),
        *_text("created"),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Text, primary_key=True),
        *_text("user_id", "digest", "label", "created"),
        *_text("expires", nullable=True),
        *_flags("read_only", "revoked"),
        *_text("last_used", nullable=True),
    )
    op.create_index("tokens_user", "tokens", ["user_id"])
    op.create_table(
        "collection_access",
        *_text("collection_id", "org_id"),
        *_flags("can_read", "can_write"),
        sa.UniqueConstraint("collection_id", "org_id", name="collection_access_pk"),
    )
    op.create_table(
        "taxii_status",
        sa.Column("id", sa.Text, primary_key=True),
        *_text("collection_id"),
        *_text("org_id", nullable=True),
        *_text("request_timestamp", "status"),
        *(
            sa.Column(n, sa.BigInteger, nullable=False)
            for n in ("total_count", "success_count", "failure_count", "pending_count")
        ),
        sa.Column("details", sa.LargeBinary),
    )
    op.create_index("taxii_status_time", "taxii_status", ["request_timestamp"])
    op.create_table(
        "clock",
        sa.Column("id", sa.Integer, primary_key=True),
        *_text("last_added"),
    )


def downgrade() -> None:
    for table in ("clock", "taxii_status", "collection_access", "tokens", "users", "orgs"):
        op.drop_table(table)
    with op.batch_alter_table("objects") as batch:
        batch.drop_column("inspect")
        batch.drop_column("owner")
