"""Fixtures of the CLI tests: a store that ``mburoja init`` created, and the same store
opened directly to check what the commands did."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mburoja.store.sql import SqlStore, open_store
from tests.cli.helpers import initialised


@pytest.fixture
def url(store_url: str, tmp_path: Path) -> str:
    """A store URL whose schema and home organisation ``mburoja init`` has created."""
    return initialised(store_url, tmp_path)


@pytest.fixture
def store(url: str) -> Iterator[SqlStore]:
    s = open_store(url)
    yield s
    s.close()
