"""Fixtures of the CLI tests: a store that ``mburoja init`` created, and the same store
opened directly to check what the commands did."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mburoja.cli.main import app
from mburoja.store.sql import SqlStore, open_store
from tests.cli.helpers import HOME_ORG, runner


@pytest.fixture
def url(store_url: str, tmp_path: Path) -> str:
    """A store URL whose schema and home organisation ``mburoja init`` has created."""
    data_dir = str(tmp_path / "data")
    result = runner.invoke(
        app, ["--store-url", store_url, "--data-dir", data_dir, "init", "--org", HOME_ORG]
    )
    assert result.exit_code == 0, result.output
    return store_url


@pytest.fixture
def store(url: str) -> Iterator[SqlStore]:
    s = open_store(url)
    yield s
    s.close()
