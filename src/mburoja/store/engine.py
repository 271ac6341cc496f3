"""Connecting to the database: engine set-up per backend, and schema migrations.

SQLite runs in WAL mode with ``synchronous=NORMAL``: a commit that returned survives a
``kill -9`` of the process (the WAL is in the OS page cache and is replayed on open); only
a power loss may take the last transactions, which is the documented WAL trade-off.
Write transactions start with ``BEGIN IMMEDIATE`` so that two writers queue on the lock
instead of failing half-way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from mburoja.errors import SchemaError, StoreUnavailable

MIGRATIONS = Path(__file__).with_name("migrations")

_SQLITE_PRAGMAS = (
    "PRAGMA page_size=16384",  # only takes effect on a new file; big rows write faster
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=30000",
    "PRAGMA cache_size=-131072",  # 128 MiB
    "PRAGMA wal_autocheckpoint=4096",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA mmap_size=1073741824",  # page reads without a syscall each (several writers)
    "PRAGMA foreign_keys=OFF",
)


def create_store_engine(url: str) -> Engine:
    """An engine for ``url`` (``sqlite:///path`` or ``postgresql://…``), tuned per backend."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=8
        )
        _install_sqlite_hooks(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_size=8, max_overflow=8, pool_pre_ping=True)
    raise SchemaError(
        f"unsupported store URL {parsed.render_as_string(hide_password=True)!r}: "
        "use sqlite:///path/to/file.db or postgresql://user@host/db"
    )


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy's begin hook below (the pysqlite recipe).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for pragma in _SQLITE_PRAGMAS:
            cur.execute(pragma)
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("mburoja_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (creating it on an empty database)."""
    cfg = _alembic_config(engine)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except OperationalError as exc:
        raise StoreUnavailable(f"cannot migrate the store at {engine.url!r}: {exc}") from exc


def check_revision(engine: Engine) -> None:
    """Raise ``SchemaError`` unless the database is at the newest revision."""
    head = ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except OperationalError as exc:
        raise StoreUnavailable(f"cannot open the store at {engine.url!r}: {exc}") from exc
    if current is None:
        raise SchemaError(
            f"the store at {engine.url.render_as_string(hide_password=True)} is not "
            "initialised: run `mburoja init` first"
        )
    if current != head:
        raise SchemaError(
            f"the store is at schema revision {current}, this Mburoja needs {head}: "
            "run `mburoja init` to migrate it"
        )
