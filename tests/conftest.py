"""Shared fixtures: stores on SQLite and on a real PostgreSQL, settings, and data paths.

Tests that need PostgreSQL run when ``MBUROJA_TEST_POSTGRES_URL`` is set and skip with a
visible reason otherwise; with ``MBUROJA_REQUIRE_SERVICES=1`` (CI) they fail instead.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from mburoja.config import Settings, load_settings
from mburoja.store.sql import SqlStore, open_store

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
STIX_EXAMPLES = DATA / "stix-examples"
MISP_EXAMPLES = DATA / "misp-examples"


def service_url(variable: str, what: str) -> str:
    """The URL of a real service the tests need: skipped when not set, unless
    ``MBUROJA_REQUIRE_SERVICES`` says a skip would hide a failure (CI)."""
    url = os.environ.get(variable, "")
    if not url:
        if os.environ.get("MBUROJA_REQUIRE_SERVICES"):
            pytest.fail(f"MBUROJA_REQUIRE_SERVICES is set but {variable} is not")
        pytest.skip(f"set {variable} to run the {what} tests")
    return url


def postgres_url() -> str:
    return service_url("MBUROJA_TEST_POSTGRES_URL", "PostgreSQL")


def nats_url() -> str:
    return service_url("MBUROJA_TEST_NATS_URL", "NATS JetStream")


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """``mburoja serve`` configures logging for the whole process (JSON lines on stderr, at
    INFO); a test that runs it must not leave that behind for the tests after it."""
    names = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "alembic")
    saved = [
        (logger, logger.handlers[:], logger.level, logger.propagate, logger.disabled)
        for logger in map(logging.getLogger, names)
    ]
    yield
    for logger, handlers, level, propagate, disabled in saved:
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate, logger.disabled = propagate, disabled


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(environ={}, overrides={"data_dir": str(tmp_path / "data")})


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A URL to a fresh, empty schema in the test PostgreSQL, dropped afterwards."""
    with fresh_pg_schema() as url:
        yield url


@contextmanager
def fresh_pg_schema() -> Iterator[str]:
    """A URL to a fresh, empty schema in the test PostgreSQL, dropped on exit (for
    fixtures of any scope)."""
    base = postgres_url()
    schema = f"mb_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except sa.exc.OperationalError as exc:
        if os.environ.get("MBUROJA_REQUIRE_SERVICES"):
            pytest.fail(f"PostgreSQL at {base} is unreachable: {exc}")
        pytest.skip(f"PostgreSQL at {base} is unreachable")
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_schema_url")


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    s = open_store(store_url, initialise=True)
    yield s
    s.close()
