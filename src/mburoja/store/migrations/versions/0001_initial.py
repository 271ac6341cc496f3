"""The initial schema: objects and their versions, observables, refs, receipts,
collections, ingest runs and quarantine.

Frozen as it shipped: later schema changes are later revisions, never edits here.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "objects",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
        *(sa.Column(n, sa.Text, nullable=False) for n in ("id", "type", "version")),
        *(sa.Column(n, sa.Text, nullable=False) for n in ("version_key", "spec_version")),
        sa.Column("date_added", sa.Text, nullable=False),
        sa.Column("revoked", sa.Boolean, nullable=False),
        sa.Column("is_current", sa.Boolean, nullable=False),
        *(sa.Column(n, sa.Text) for n in ("tlp", "markings", "created_by", "name")),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("ingest_id", sa.BigInteger, nullable=False),
        sa.Column("chash", sa.LargeBinary, nullable=False),
        sa.Column("raw", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("id", "version_key", name="objects_id_version"),
    )
    op.create_index("objects_ingest", "objects", ["ingest_id"])
    op.create_table(
        "observables",
        *(sa.Column(n, sa.Text, nullable=False) for n in ("value", "kind")),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )
    op.create_index("observables_value", "observables", ["value"])
    op.create_table(
        "refs",
        sa.Column("seq", sa.BigInteger, nullable=False),
        *(sa.Column(n, sa.Text, nullable=False) for n in ("prop", "target")),
    )
    op.create_index("refs_target", "refs", ["target"])
    op.create_index("refs_seq", "refs", ["seq"])
    op.create_table(
        "receipts",
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("ingest_id", sa.BigInteger, nullable=False),
        sa.Column("received_at", sa.Text, nullable=False),
        sa.UniqueConstraint("seq", "source", name="receipts_seq_source"),
    )
    op.create_table(
        "collections",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("alias", sa.Text, nullable=False, unique=True),
        *(sa.Column(n, sa.Text, nullable=False) for n in ("title", "description")),
    )
    op.create_table(
        "collection_objects",
        sa.Column("collection_id", sa.Text, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("date_added", sa.Text, nullable=False),
        sa.UniqueConstraint("collection_id", "seq", name="collection_objects_pk"),
    )
    op.create_index(
        "collection_objects_added", "collection_objects", ["collection_id", "date_added", "seq"]
    )
    op.create_table(
        "ingests",
        sa.Column("id", _SEQ, primary_key=True, autoincrement=True),
        *(sa.Column(n, sa.Text, nullable=False) for n in ("source", "actor", "started")),
        sa.Column("finished", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        *(
            sa.Column(n, sa.BigInteger, nullable=False, default=0)
            for n in (
                *("received", "new", "new_versions", "unchanged"),
                *("rejected", "warnings", "dangling_refs"),
            )
        ),
    )
    op.create_table(
        "quarantine",
        sa.Column("qid", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("ingest_id", sa.BigInteger),
        sa.Column("origin", sa.Text, nullable=False),
        sa.Column("idx", sa.BigInteger, nullable=False),
        sa.Column("object_id", sa.Text),
        *(sa.Column(n, sa.Text, nullable=False) for n in ("field", "reason", "received_at")),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("raw", sa.LargeBinary, nullable=False),
    )
    op.create_index("quarantine_status", "quarantine", ["status", "qid"])


def downgrade() -> None:
    for table in (
        *("quarantine", "ingests", "collection_objects", "collections"),
        *("receipts", "refs", "observables", "objects"),
    ):
        op.drop_table(table)
