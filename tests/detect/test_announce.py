"""Ingest announces index changes to the match workers (``mburoja.detect.announce``).

With ``detect.announce_url`` set, an ingest run that stored an indicator puts the store's
latest sequence in the key-value bucket the workers watch, on the real NATS JetStream server
(``MBUROJA_TEST_NATS_URL``); an unreachable NATS never fails the ingest.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats.js.errors
import pytest
from typer.testing import CliRunner

from mburoja.cli.main import app
from mburoja.config import Settings
from mburoja.detect.announce import INDEX_KEY, close_announcers
from mburoja.detect.pipeline import Detector
from mburoja.ingest.pipeline import Ingestor
from mburoja.store.sql import SqlStore, open_store
from tests.conftest import nats_url
from tests.detect.natsbus import Bus, Names, start_worker, wait_for
from tests.detect.test_nats import HOME, domain, hit_rids, ingest_indicators, max_seq, zeek_dns
from tests.factories import bundle, indicator, raw, sdo


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    opened = open_store(f"sqlite:///{tmp_path / 'store.db'}", initialise=True)
    opened.create_org(HOME, "home")
    yield opened
    opened.close()


@pytest.fixture(autouse=True)
def no_kept_connections() -> Iterator[None]:
    """Ingest keeps its announcing connection for the process: each test starts afresh."""
    close_announcers()
    yield
    close_announcers()


def announcing(settings: Settings, url: str, bucket: str) -> Settings:
    settings.detect.announce_url = url
    settings.detect.announce_bucket = bucket
    return settings


def index_entry(bus: Bus, bucket: str) -> Any:
    """The bucket's entry for the index key (None: no bucket, nothing announced yet)."""
    try:
        kv = bus.call(bus.js.key_value(bucket))
    except nats.js.errors.BucketNotFoundError:
        return None
    return bus.call(kv.get(INDEX_KEY))


def test_an_ingested_indicator_reaches_a_worker_that_would_not_look_for_an_hour(
    store: SqlStore, settings: Settings, bus: Bus, names: Names
) -> None:
    announcing(settings, nats_url(), names.bucket)
    bus.call(bus.js.add_stream(name=names.stream, subjects=[names.subject]))
    detector = Detector(store, settings)
    stop = threading.Event()
    options = names.options(
        stream=True,
        batch_s=0.3,
        refresh_s=3600.0,  # on its own, the worker looks at the store only when it starts
        stop=stop,
    )
    worker, done = start_worker(options, detector)
    try:
        wait_for(lambda: bus.pulling(names.stream, names.durable), "a pull")
        (before,) = bus.publish(names.subject, [zeek_dns(1, domain(7))])
        wait_for(
            lambda: bus.consumer(names.stream, names.durable).ack_floor.stream_seq >= before,
            "the record from before the indicator to be acked",
        )
        assert hit_rids(store) == []
        ids = ingest_indicators(store, settings, [7])  # the ingest announces it
        ingested = time.monotonic()
        # Records of the domain keep coming; one soon after the ingest must hit.
        i = 2
        while not hit_rids(store) and time.monotonic() - ingested < 10.0:
            bus.publish(names.subject, [zeek_dns(i, domain(7))])
            i += 1
            time.sleep(0.3)
        took = time.monotonic() - ingested
    finally:
        stop.set()
        worker.join(30)
        detector.close()
    assert not worker.is_alive()
    report = done[0]

    rows = hit_rids(store)
    assert rows and {indicator_id for indicator_id, _ in rows} == {ids[7]}
    assert took < 10.0
    assert report.announcements == 1
    assert report.index_refreshes == 2  # at start, and on the announcement


def test_ingest_announces_runs_that_stored_indicators_or_revoked_them_and_no_others(
    store: SqlStore, settings: Settings, bus: Bus, names: Names, tmp_path: Path
) -> None:
    announcing(settings, nats_url(), names.bucket)
    ingest = Ingestor(store, settings, workers=0)
    ingest.run([raw(sdo("malware", "Not an indicator"))], source="test")
    assert index_entry(bus, names.bucket) is None

    # `mburoja ingest`, configured by environment, announces the store's latest sequence.
    original = indicator("[domain-name:value = 'evil.test']")
    path = tmp_path / "indicator.json"
    path.write_bytes(bundle(original))
    url = store.engine.url.render_as_string(hide_password=False)
    env = {
        "MBUROJA_DETECT_ANNOUNCE_URL": nats_url(),
        "MBUROJA_DETECT_ANNOUNCE_BUCKET": names.bucket,
    }
    result = CliRunner().invoke(
        app, ["--store-url", url, "--data-dir", str(tmp_path), "ingest", str(path)], env=env
    )
    assert result.exit_code == 0, result.output
    first = index_entry(bus, names.bucket)
    assert first.value == str(max_seq(store)).encode()

    # The same version again stores nothing: no announcement.
    ingest.run([raw(original)], source="test")
    assert index_entry(bus, names.bucket).revision == first.revision
    # A revocation is a new version: announced.
    revoked = {**original, "modified": "2026-02-01T00:00:00.000Z", "revoked": True}
    ingest.run([raw(revoked)], source="test")
    latest = index_entry(bus, names.bucket)
    assert latest.revision > first.revision
    assert latest.value == str(max_seq(store)).encode()


def test_an_unreachable_nats_warns_and_never_fails_or_slows_down_the_ingest(
    store: SqlStore, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    announcing(settings, "nats://127.0.0.1:1", "mburoja-index")  # nothing listens there
    ingest = Ingestor(store, settings, workers=0)
    with caplog.at_level(logging.WARNING, logger="mburoja.detect.announce"):
        started = time.monotonic()
        report = ingest.run([raw(indicator("[domain-name:value = 'a.test']"))], source="test")
        first_s = time.monotonic() - started
        started = time.monotonic()
        again = ingest.run([raw(indicator("[domain-name:value = 'b.test']"))], source="test")
        second_s = time.monotonic() - started
    assert report.new == again.new == 1
    assert store.get_ingest(again.ingest_id).status == "ok"
    warnings = [r.getMessage() for r in caplog.records if "could not announce" in r.getMessage()]
    assert len(warnings) == 1, warnings  # the second run did not try again so soon
    assert "127.0.0.1:1" in warnings[0] and "detect.announce_url" in warnings[0]
    assert first_s < 10.0 and second_s < 1.0
