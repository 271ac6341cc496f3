"""The full-text index of stored versions (name, description, pattern, value) for the search
page's name and word matches, and the state row that records how far it has caught up.

SQLite: an FTS5 table with the ``trigram`` tokenizer (case-insensitive substrings), kept
contentless (the text lives in ``objects.raw``; the index only narrows). PostgreSQL: a table
of the same text with ``pg_trgm`` GIN indexes, so ``ILIKE '%...%'`` is an index lookup.
Neither is written by ingest: ``store.index_text`` catches up on ``objects.seq`` afterwards.
These tables stay out of ``schema.metadata`` (an FTS5 table and its shadow tables cannot be
declared there); ``store.textindex.TEXT_TABLES`` names them for schema comparison.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    op.create_table(
        "text_index_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
    )
    op.execute("INSERT INTO text_index_state (id, last_seq) VALUES (1, 0)")
    if bind.dialect.name == "sqlite":
        version = bind.exec_driver_sql("SELECT sqlite_version()").scalar_one()
        if tuple(int(p) for p in str(version).split(".")[:2]) < (3, 34):
            raise RuntimeError(
                f"this Python's SQLite is {version}; the search index needs SQLite 3.34 or "
                "newer (FTS5's trigram tokenizer): use a Python built against a newer SQLite "
                "(Python 3.11 from python.org, Debian 12 or Ubuntu 22.04 have one), or PostgreSQL"
            )
        op.execute(
            "CREATE VIRTUAL TABLE text_index USING fts5(name, body, content='', tokenize='trigram')"
        )
        return
    available = bind.exec_driver_sql(
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'"
    ).scalar_one()
    if not available:
        raise RuntimeError(
            "the PostgreSQL server lacks the pg_trgm extension (package postgresql-contrib), "
            "which the search index needs"
        )
    home = _trgm_schema(bind)
    if home is None:
        # in ``public`` where there is one: a schema dropped with its tables (a test's, a
        # tenant's) must not take the operator class of every other schema's index with it
        public = bind.exec_driver_sql(
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'public'"
        ).scalar_one()
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm" + (" SCHEMA public" if public else ""))
        home = _trgm_schema(bind)
    op.create_table(
        "text_index",
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    ops = f'"{home}".gin_trgm_ops'
    op.execute(f"CREATE INDEX text_index_name ON text_index USING gin (name {ops})")
    op.execute(f"CREATE INDEX text_index_body ON text_index USING gin (body {ops})")


def _trgm_schema(bind: sa.Connection) -> str | None:
    """The schema pg_trgm is installed in (its operator class is named through it, whatever
    the search path), or None when it is not installed."""
    found = bind.exec_driver_sql(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_trgm'"
    ).scalar()
    return None if found is None else str(found)


def downgrade() -> None:
    # pg_trgm stays installed: other schemas of the database may use it.
    op.execute("DROP TABLE text_index")
    op.drop_table("text_index_state")
