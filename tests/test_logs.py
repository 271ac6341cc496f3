"""Structured logs: one JSON object per line, and one access record per HTTP request."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from mburoja.config import Settings
from mburoja.logs import ACCESS, JsonFormatter, configure
from mburoja.store.sql import SqlStore, open_store
from tests.world import served


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """The root logger sent to a buffer as JSON, restored afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    configure(json=True, stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        logging.getLogger("uvicorn.access").disabled = False


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_a_message_with_newlines_and_quotes_stays_one_json_line(log_stream: io.StringIO) -> None:
    message = 'first line\nsecond "quoted" line\r\n\tand a \\ backslash'
    logging.getLogger("mburoja.test").warning(message, extra={"peer": 'a "b"\nc', "n": 3})
    text = log_stream.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    (entry,) = lines(log_stream)
    assert entry["message"] == message
    assert entry["level"] == "warning"
    assert entry["logger"] == "mburoja.test"
    assert entry["peer"] == 'a "b"\nc' and entry["n"] == 3
    assert isinstance(entry["time"], str) and entry["time"].endswith("+00:00")


def test_an_exception_goes_in_the_record_on_the_same_line() -> None:
    try:
        raise ValueError("broken\nvalue")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, None)
        import sys

        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = orjson.loads(line)
    assert entry["message"] == "failed"
    assert "ValueError: broken\nvalue" in entry["exc"]


def test_a_request_writes_one_parseable_access_line(
    store: SqlStore, settings: Settings, log_stream: io.StringIO
) -> None:
    with served(store, settings) as world:
        token = world.tokens["same"]
        with world.client("same") as client:
            answer = client.get("/api/stats?x=1")
        assert answer.status_code == 200
        with world.client(None) as client:
            assert client.get("/api/objects/not-an-id").status_code == 400
    access = [e for e in lines(log_stream) if e["logger"] == ACCESS]
    stats = [e for e in access if e["path"] == "/api/stats"]
    assert len(stats) == 1
    entry = stats[0]
    assert entry["method"] == "GET" and entry["status"] == 200 and entry["query"] == "x=1"
    assert isinstance(entry["duration_ms"], float) and entry["duration_ms"] >= 0
    assert entry["user"] == "token:" + token.split("_")[1]
    assert token.split("_", 2)[2] not in log_stream.getvalue(), "the secret is never logged"
    assert entry["client"] == "127.0.0.1"
    bad = [e for e in access if e["path"] == "/api/objects/not-an-id"]
    assert [(e["status"], e["user"]) for e in bad] == [(400, None)]


def test_opening_a_store_under_configured_logging_writes_no_alembic_chatter(
    tmp_path: Path,
) -> None:
    """`mburoja serve` and `mburoja worker` open stores under INFO logging; alembic's
    "Context impl SQLiteImpl" lines are noise there, its warnings are not."""
    stream = io.StringIO()
    configure(json=True, stream=stream)
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}", initialise=True)
    store.close()
    open_store(f"sqlite:///{tmp_path / 'store.db'}").close()
    assert "alembic" not in stream.getvalue()
    logging.getLogger("alembic.runtime.migration").warning("something to see")
    assert "something to see" in stream.getvalue()
