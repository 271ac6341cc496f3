"""Hits and sightings under concurrency and failure (``store.detection``, ``Detector``).

Several workers share one store: their hit sets overlap (redelivery), they write the same
sighting windows, and any of them can fail between storing hits and writing the sighting.
The concurrency tests run on PostgreSQL, the scale-out store, with one ``SqlStore`` (one
engine, its own connections) per worker as separate processes would have.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import orjson
import pytest

from mburoja.config import Settings
from mburoja.detect.model import Record
from mburoja.detect.pipeline import Detector
from mburoja.ingest.pipeline import Ingestor, IngestReport
from mburoja.store.detection import HitRow, WindowSummary
from mburoja.store.sql import SqlStore, open_store
from tests.factories import indicator, raw

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z: every record below falls in one hour window
HOME = "CERT Albania"


def record(i: int, value: str) -> Record:
    return Record(
        source="test",
        line=i,
        log="zeek.dns",
        rid=f"zeek.dns:C{i}:{i}",
        ts=T0 + i,
        values=[("domain", value)],
        dst_ip="192.0.2.53",
        dst_port=53,
        proto="udp",
    )


def load_indicator(store: SqlStore, settings: Settings, value: str) -> str:
    obj = indicator(f"[domain-name:value = '{value}']")
    Ingestor(store, settings, workers=0).run([raw(obj)], source="test")
    return str(obj["id"])


def sightings_of(store: SqlStore, indicator_id: str) -> list[dict[str, Any]]:
    """Every stored version of the indicator's sighting, the current one first."""
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT raw, is_current FROM objects WHERE type = 'sighting' ORDER BY is_current DESC"
        ).all()
    found = [orjson.loads(bytes(body)) for body, _current in rows]
    return [s for s in found if s["sighting_of_ref"] == indicator_id]


def pending_count(store: SqlStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT COUNT(*) FROM sighting_pending").scalar_one())


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@pytest.fixture
def home_store(store: SqlStore) -> SqlStore:
    store.create_org(HOME, "home")
    return store


@pytest.fixture
def pg_stores(pg_schema_url: str) -> Iterator[list[SqlStore]]:
    """Two stores on one fresh PostgreSQL schema, as two worker processes would open it."""
    first = open_store(pg_schema_url, initialise=True)
    first.create_org(HOME, "home")
    second = open_store(pg_schema_url)
    yield [first, second]
    first.close()
    second.close()


# -- hits: each (indicator, record) pair is new to exactly one writer -------------------------


def hits(indicator_id: str, numbers: Sequence[int]) -> list[HitRow]:
    return [HitRow(indicator_id, f"r{n}", 0, float(n), "domain", f"h{n}.test") for n in numbers]


def race(stores: list[SqlStore], batches: list[list[HitRow]]) -> list[list[HitRow]]:
    """Each store records its batch, both starting at the same moment; what each returned."""
    returned: list[list[HitRow]] = [[] for _ in stores]
    errors: list[BaseException] = []
    start = threading.Barrier(len(stores))

    def write(k: int) -> None:
        try:
            start.wait(10)
            returned[k] = stores[k].record_hits(batches[k])
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    return returned


@pytest.mark.postgres
def test_concurrent_writers_of_overlapping_hits_each_get_only_what_they_inserted(
    pg_stores: list[SqlStore],
) -> None:
    for round_ in range(15):
        indicator_id = f"indicator--round-{round_}"
        # Overlapping ranges, one in reverse order: the writers meet on 400 pairs.
        first, second = (
            {(h.indicator_id, h.rid) for h in returned}
            for returned in race(
                pg_stores,
                [hits(indicator_id, range(0, 800)), hits(indicator_id, range(1199, 399, -1))],
            )
        )
        assert not first & second, f"round {round_}: both writers reported the same new hits"
        with pg_stores[0].engine.connect() as conn:
            stored = {
                (str(i), str(r))
                for i, r in conn.exec_driver_sql(
                    "SELECT indicator_id, rid FROM sighting_hits WHERE indicator_id = %s",
                    (indicator_id,),
                )
            }
        assert first | second == stored
        assert len(stored) == 1200


def test_hits_already_stored_or_repeated_in_the_batch_are_not_returned(
    home_store: SqlStore,
) -> None:
    first = home_store.record_hits(hits("indicator--a", [1, 2]))
    assert [h.rid for h in first] == ["r1", "r2"]
    again = home_store.record_hits(hits("indicator--a", [2, 3, 3, 1]) + hits("indicator--b", [1]))
    assert [(h.indicator_id, h.rid) for h in again] == [
        ("indicator--a", "r3"),
        ("indicator--b", "r1"),
    ]
    assert home_store.hit_count() == 4


# -- sightings: an older count never replaces a newer one ---------------------------------


@pytest.mark.postgres
def test_a_slow_worker_never_overwrites_a_newer_sighting_count_with_its_older_one(
    pg_stores: list[SqlStore], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_a, store_b = pg_stores
    indicator_id = load_indicator(store_a, settings, "evil.test")
    slow, fast = Detector(store_a, settings), Detector(store_b, settings)
    slow.refresh()
    fast.refresh()
    # Worker A sums up its window, then stalls before writing the sighting.
    summed, go_on = threading.Event(), threading.Event()
    summaries = store_a.window_summaries

    def stalled(windows: Sequence[tuple[str, int]], values_limit: int = 50) -> list[WindowSummary]:
        found = summaries(windows, values_limit)
        summed.set()
        go_on.wait(30)
        return found

    monkeypatch.setattr(store_a, "window_summaries", stalled)
    errors: list[BaseException] = []

    def run(detector: Detector, records: list[Record]) -> None:
        try:
            detector.process(records)
        except BaseException as exc:
            errors.append(exc)

    worker_a = threading.Thread(target=run, args=(slow, [record(i, "evil.test") for i in range(5)]))
    worker_a.start()
    try:
        wait_for(summed.is_set, "worker A to sum up its window")
        # Worker B stores two more hits of the same window and writes its sighting (or
        # waits for A to be done with the window).
        worker_b = threading.Thread(
            target=run, args=(fast, [record(i, "evil.test") for i in range(5, 7)])
        )
        worker_b.start()
        wait_for(
            lambda: not worker_b.is_alive() or _waits_on_an_advisory_lock(store_b),
            "worker B to finish or to wait for worker A",
        )
    finally:
        go_on.set()
        worker_a.join(30)
    worker_b.join(30)
    slow.close()
    fast.close()
    assert not errors

    versions = sightings_of(store_a, indicator_id)
    assert versions[0]["count"] == 7 == store_a.hit_count()
    counts_by_modified = sorted((v["modified"], v["count"]) for v in versions)
    assert [c for _m, c in counts_by_modified] == sorted(c for _m, c in counts_by_modified)
    assert pending_count(store_a) == 0


def _waits_on_an_advisory_lock(store: SqlStore) -> bool:
    with store.engine.connect() as conn:
        waiting = conn.exec_driver_sql(
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).scalar_one()
    return int(waiting) > 0


# -- sightings: a failure between the hits and the sighting is repaired ----------------------


class FailingOnce(Ingestor):
    """Failure injection: the first sighting write fails (the store went away)."""

    failures = 0

    def run(self, *args: Any, **kwargs: Any) -> IngestReport:
        if FailingOnce.failures == 0:
            FailingOnce.failures += 1
            raise RuntimeError("injected: the sighting write failed")
        return super().run(*args, **kwargs)


@pytest.fixture
def failing_once(monkeypatch: pytest.MonkeyPatch) -> None:
    FailingOnce.failures = 0
    monkeypatch.setattr("mburoja.detect.pipeline.Ingestor", FailingOnce)


@pytest.mark.usefixtures("failing_once")
def test_a_sighting_lost_to_a_failed_write_is_written_when_the_next_run_starts(
    home_store: SqlStore, settings: Settings
) -> None:
    indicator_id = load_indicator(home_store, settings, "evil.test")
    batch = [record(i, "evil.test") for i in range(4)] + [record(9, "benign.test")]
    detector = Detector(home_store, settings)
    detector.refresh()
    with pytest.raises(RuntimeError, match="injected"):
        detector.process(batch)
    detector.close()
    # The hits are stored (a redelivery would find them known), the sighting is not.
    assert home_store.hit_count() == 4
    assert sightings_of(home_store, indicator_id) == []
    assert pending_count(home_store) == 1

    restarted = Detector(home_store, settings)
    restarted.refresh()
    restarted.close()
    (sighting,) = sightings_of(home_store, indicator_id)
    assert sighting["count"] == 4
    assert pending_count(home_store) == 0


@pytest.mark.usefixtures("failing_once")
def test_a_redelivered_batch_writes_the_sighting_its_failed_attempt_lost(
    home_store: SqlStore, settings: Settings
) -> None:
    indicator_id = load_indicator(home_store, settings, "evil.test")
    batch = [record(i, "evil.test") for i in range(3)]
    detector = Detector(home_store, settings)
    detector.refresh()
    with pytest.raises(RuntimeError, match="injected"):
        detector.process(batch)
    again = detector.process(batch)  # what a stream redelivers after the failure
    detector.close()
    assert (again.new_hits, again.repeated, again.sightings) == (0, 3, 1)
    (sighting,) = sightings_of(home_store, indicator_id)
    assert sighting["count"] == 3
    assert pending_count(home_store) == 0
    # Once written, a window is not rewritten: the same batch again changes nothing.
    quiet = Detector(home_store, settings)
    quiet.refresh()
    assert quiet.process(batch).sightings == 0
    quiet.close()
    assert len(sightings_of(home_store, indicator_id)) == 1
