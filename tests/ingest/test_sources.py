"""Inputs by URL and MISP feeds over HTTP, from a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import msgspec
import orjson
import pytest

from mburoja.config import Settings
from mburoja.errors import FetchRefused
from mburoja.ingest.ioc_list import IocOptions
from mburoja.ingest.pipeline import Ingestor
from mburoja.ingest.sources import detect_format, items_for
from mburoja.store.sql import SqlStore
from tests.conftest import MISP_EXAMPLES
from tests.factories import bundle, indicator


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def web_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_Quiet, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def allow_private(settings: Settings) -> Settings:
    return msgspec.structs.replace(
        settings, fetch=msgspec.structs.replace(settings.fetch, allow_private=True)
    )


def run(store: SqlStore, settings: Settings, spec: str, fmt: str = "auto"):
    items = items_for(
        spec, settings, fmt=fmt, ioc=IocOptions(source=spec), now="2026-01-01T00:00:00Z"
    )
    return Ingestor(store, settings).run(items, source=spec)


def test_a_bundle_url_is_fetched_and_ingested_when_private_targets_are_allowed(
    store: SqlStore, settings: Settings, web_root: tuple[Path, str]
) -> None:
    root, base = web_root
    ind = indicator()
    (root / "b.json").write_bytes(bundle(ind))
    report = run(store, allow_private(settings), f"{base}/b.json")
    assert report.new == 1
    current = store.current(ind["id"])
    assert current is not None and current.raw == orjson.dumps(ind)


def test_a_loopback_url_is_refused_by_default_and_the_run_is_recorded_failed(
    store: SqlStore, settings: Settings, web_root: tuple[Path, str]
) -> None:
    root, base = web_root
    (root / "b.json").write_bytes(bundle(indicator()))
    with pytest.raises(FetchRefused, match=r"127\.0\.0\.1"):
        run(store, settings, f"{base}/b.json")
    assert store.stats().versions == 0
    assert store.get_ingest(1).status == "failed"


def test_non_http_schemes_are_refused(store: SqlStore, settings: Settings) -> None:
    with pytest.raises(FetchRefused, match="file"):
        run(store, allow_private(settings), "file:///etc/passwd")


def test_a_misp_feed_over_http_ingests_every_listed_event_and_rejects_a_missing_one(
    store: SqlStore, settings: Settings, web_root: tuple[Path, str]
) -> None:
    root, base = web_root
    events = orjson.loads((MISP_EXAMPLES / "test_events_collection_1.json").read_bytes())[
        "response"
    ]
    manifest = {}
    for wrapped in events:
        event = wrapped["Event"]
        manifest[event["uuid"]] = {"info": event["info"], "timestamp": event["timestamp"]}
        (root / f"{event['uuid']}.json").write_bytes(orjson.dumps(wrapped))
    manifest["0b1b5d2a-0000-4000-8000-00000000dead"] = {"info": "gone", "timestamp": "1603642920"}
    (root / "manifest.json").write_bytes(orjson.dumps(manifest))
    report = run(store, allow_private(settings), f"{base}/manifest.json")
    assert report.rejected == 1 and "dead" in report.rejects[0].origin
    assert report.new > 0 and report.adds_up
    assert store.search("circl.lu").hits


def test_formats_are_detected_from_content() -> None:
    assert detect_format(bundle(indicator())) == "stix"
    assert detect_format((MISP_EXAMPLES / "test_events_collection_1.json").read_bytes()) == "misp"
    assert detect_format(b"# list\n1.2.3.4\nevil.example\n") == "text"
    assert detect_format(b"indicator,type,comment\n1.2.3.4,ip,c2\n") == "csv"
