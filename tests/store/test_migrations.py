"""The migrations build exactly the schema the code declares, and move old stores forward."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from mburoja.config import Settings
from mburoja.ingest.pipeline import Ingestor
from mburoja.store import schema
from mburoja.store.engine import _alembic_config, create_store_engine
from mburoja.store.sql import open_store
from mburoja.store.textindex import is_declared
from tests.factories import indicator, raw


def test_migrated_schema_matches_the_declared_one(store_url: str) -> None:
    store = open_store(store_url, initialise=True)
    try:
        with store.engine.connect() as conn:
            # the text index's tables (revision 0009, FTS5 on SQLite) are built outside metadata
            context = MigrationContext.configure(conn, opts={"include_name": is_declared})
            diffs = compare_metadata(context, schema.metadata)
    finally:
        store.close()
    assert diffs == []


def test_a_0001_store_with_data_moves_to_head_and_keeps_its_objects(
    store_url: str, settings: Settings
) -> None:
    engine = create_store_engine(store_url)
    cfg = _alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO objects (id, type, version, version_key, spec_version, "
                "date_added, revoked, is_current, source, ingest_id, chash, raw) VALUES "
                "('indicator--a', 'indicator', 'v', 'k', '2.1', 'd', :no, :yes, 's', 1, "
                ":chash, :raw)"
            ),
            {"no": False, "yes": True, "chash": b"x", "raw": b"{}"},
        )
        for oid, body in (
            ("indicator--g", b'{"granular_markings": []}'),
            ("indicator--r", b'{"x_mburoja_recipients": []}'),
            ("indicator--e", b'{"granular\\u005fmarkings": []}'),
        ):
            conn.execute(
                sa.text(
                    "INSERT INTO objects (id, type, version, version_key, spec_version, "
                    "date_added, revoked, is_current, source, ingest_id, chash, raw) VALUES "
                    "(:id, 'indicator', 'v', 'k', '2.1', 'd', :no, :yes, 's', 1, :chash, :raw)"
                ),
                {"id": oid, "no": False, "yes": True, "chash": b"x", "raw": body},
            )
    engine.dispose()
    store = open_store(store_url, initialise=True)
    try:
        (old,) = store.versions("indicator--a")
        assert old.owner is None and old.is_current
        with store.engine.connect() as conn:
            flags = dict(conn.exec_driver_sql("SELECT id, inspect FROM objects").all())
        # bytes the policy must read are flagged for it, plain bytes are not
        assert flags == {
            "indicator--a": None,
            "indicator--g": True,
            "indicator--r": True,
            "indicator--e": True,
        }
        # the migrated store takes new data, owners included
        report = Ingestor(store, settings).run([raw(indicator(), "m", 0)], source="after")
        assert report.new == 1
    finally:
        store.close()
