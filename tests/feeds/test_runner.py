"""One feed run against a real local HTTP server: conditional GET, health, lease, SSRF."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import orjson

from mburoja.config import Settings
from mburoja.feeds import registry
from mburoja.feeds.runner import run_feed
from mburoja.store.feeds import FeedRun
from mburoja.store.sql import SqlStore
from tests.feeds.feedserver import Document, FeedServer
from tests.feeds.helpers import run_settings, spec_for

LIST_V1 = b"# test list\n192.0.2.10\n198.51.100.20\nnot-an-indicator value\n"
LIST_V2 = LIST_V1 + b"203.0.113.30\n"
MODIFIED = "Sun, 22 Nov 2026 10:00:00 GMT"


def _settings(tmp_path: Path, **fetch: Any) -> Settings:
    return run_settings(tmp_path, fetch=fetch)


def _register(store: SqlStore, server: FeedServer, fmt: str = "text", **kw: Any) -> str:
    spec = spec_for(fmt, name="local-list", url=f"{server.base}/list.txt", **kw)
    registry.add(store, [spec])
    return spec.name


def _counts(run: FeedRun) -> tuple[int, int, int, int, int]:
    return (run.received, run.new, run.new_versions, run.unchanged, run.rejected)


def test_conditional_get_ingests_once_then_304_until_the_list_changes(
    store: SqlStore, server: FeedServer, tmp_path: Path
) -> None:
    settings = _settings(tmp_path)
    name = _register(store, server)
    server.documents["/list.txt"] = Document(LIST_V1, etag='"v1"', last_modified=MODIFIED)

    first = run_feed(store, settings, name, holder="w1")
    assert first.status == "ok", first.error
    # 2 values x (indicator, SCO, based-on) + the TLP:GREEN definition; 1 bad line
    assert _counts(first) == (8, 7, 0, 0, 1)
    assert first.adds_up and first.ingest_id is not None
    assert first.bytes == len(LIST_V1)  # decoded size; it travelled gzipped
    assert server.answers[-1] == ("/list.txt", 200, "gzip")
    assert "gzip" in server.hits("/list.txt")[0]["accept-encoding"]
    assert "if-none-match" not in server.hits("/list.txt")[0]
    state = store.feed_state(name)
    assert (state.etag, state.last_modified, state.healthy) == ('"v1"', MODIFIED, True)
    assert state.lease_holder is None  # given back

    second = run_feed(store, settings, name, holder="w1")
    assert second.status == "not-modified"
    assert _counts(second) == (0, 0, 0, 0, 0) and second.ingest_id is None
    sent = server.hits("/list.txt")[1]
    assert (sent["if-none-match"], sent["if-modified-since"]) == ('"v1"', MODIFIED)
    assert server.answers[-1] == ("/list.txt", 304, "")

    server.documents["/list.txt"] = Document(LIST_V2, etag='"v2"', last_modified=MODIFIED)
    third = run_feed(store, settings, name, holder="w2")
    assert third.status == "ok", third.error
    # the new value's 3 objects are new, the rest as before
    assert _counts(third) == (11, 3, 0, 7, 1)
    assert third.ingest_id not in (None, first.ingest_id)
    assert store.feed_state(name).etag == '"v2"'

    runs = store.feed_runs(name)
    assert [r.status for r in runs] == ["ok", "not-modified", "ok"]
    assert [r.id for r in runs] == [third.id, second.id, first.id]
    assert _counts(runs[0]) == _counts(third)
    # what was ingested is in the feed's collection under the feed's source
    found = store.search("203.0.113.30")
    assert found.hits and "feed:local-list" in found.hits[0].sources
    (collection,) = [c for c in store.collections() if c.alias == "feeds"]
    assert collection.objects == 10  # 3 values x 3 objects + the marking definition


def test_repeated_failures_mark_the_feed_unhealthy_and_a_success_heals_it(
    store: SqlStore, server: FeedServer, tmp_path: Path
) -> None:
    settings = _settings(tmp_path)
    name = _register(store, server)
    server.documents["/list.txt"] = Document(b"", status=503)
    waits: list[float] = []

    health = []
    for _ in range(3):
        run = run_feed(store, settings, name, holder="w", sleep=waits.append)
        assert run.status == "failed"
        assert "HTTP 503" in (run.error or "") and "gave up after 2 tries" in (run.error or "")
        state = store.feed_state(name)
        health.append((state.failures, state.healthy))
    assert health == [(1, True), (2, True), (3, False)]
    assert len(server.hits("/list.txt")) == 6  # one retry per run
    assert waits == [0.01, 0.01, 0.01]

    server.documents["/list.txt"] = Document(LIST_V1, etag='"v1"')
    healed = run_feed(store, settings, name, holder="w", sleep=waits.append)
    assert healed.status == "ok" and healed.new == 7
    state = store.feed_state(name)
    assert (state.failures, state.healthy, state.etag) == (0, True, '"v1"')
    assert [r.status for r in store.feed_runs(name)] == ["ok", "failed", "failed", "failed"]


def test_a_private_address_is_refused_without_the_setting(
    store: SqlStore, server: FeedServer, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, allow_private=False)
    name = _register(store, server)
    server.documents["/list.txt"] = Document(LIST_V1)

    run = run_feed(store, settings, name, holder="w")
    assert run.status == "failed"
    assert "127.0.0.1 is a loopback address" in (run.error or "")
    assert "fetch.allow_private" in (run.error or "")
    assert server.requests == []
    (recorded,) = store.feed_runs(name)
    assert recorded.error == run.error and recorded.status == "failed"
    assert store.feed_state(name).failures == 1


def test_two_workers_starting_together_run_the_feed_once(
    store: SqlStore, server: FeedServer, tmp_path: Path
) -> None:
    settings = _settings(tmp_path)
    name = _register(store, server)
    server.documents["/list.txt"] = Document(LIST_V1, etag='"v1"')
    server.gate = threading.Event()
    start = threading.Barrier(2)
    results: dict[str, FeedRun] = {}

    def worker(holder: str) -> None:
        start.wait()
        results[holder] = run_feed(store, settings, name, holder=holder)

    threads = [threading.Thread(target=worker, args=(h,)) for h in ("a", "b")]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while not results and time.monotonic() < deadline:  # the loser returns at once
        time.sleep(0.01)
    server.gate.set()  # only now may the winner's download finish
    for thread in threads:
        thread.join(20)

    assert sorted(r.status for r in results.values()) == ["ok", "skipped"]
    winner = next(h for h, r in results.items() if r.status == "ok")
    skipped = next(r for r in results.values() if r.status == "skipped")
    assert skipped.error == f"running elsewhere (lease held by {winner})"
    assert len(server.requests) == 1
    assert [r.status for r in store.feed_runs(name)] == ["ok"]
    assert store.feed_state(name).lease_holder is None


def test_the_lease_goes_to_exactly_one_of_racing_holders_and_expires(store: SqlStore) -> None:
    start = threading.Barrier(6)
    won: list[str] = []

    def grab(holder: str) -> None:
        start.wait()
        if store.acquire_feed_lease("race", holder, 60):
            won.append(holder)

    threads = [threading.Thread(target=grab, args=(f"h{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert len(won) == 1
    assert store.feed_state("race").lease_holder == won[0]

    store.release_feed_lease("race", "not-the-holder")  # changes nothing
    assert not store.acquire_feed_lease("race", "late", 60)
    # a crashed holder's lease runs out and is taken over
    assert store.acquire_feed_lease("race", "late", 60, now=time.time() + 61)
    assert store.feed_state("race").lease_holder == "late"
    store.release_feed_lease("race", "late")
    assert store.acquire_feed_lease("race", "next", 60)


def test_a_taxii_feed_whose_url_is_no_collection_fails_with_a_clear_reason(
    store: SqlStore, server: FeedServer, tmp_path: Path
) -> None:
    name = _register(store, server, fmt="taxii")
    run = run_feed(store, _settings(tmp_path), name, holder="w")
    assert run.status == "failed"
    assert "is not a TAXII collection URL; give <api root>collections/" in (run.error or "")
    assert server.requests == []


def test_a_misp_feed_goes_to_the_misp_feed_importer(
    store: SqlStore, server: FeedServer, tmp_path: Path
) -> None:
    event_uuid = "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
    event = {
        "Event": {
            "uuid": event_uuid,
            "info": "Phishing wave against test.example",
            "date": "2026-11-20",
            "timestamp": "1763600000",
            "published": True,
            "threat_level_id": "2",
            "analysis": "2",
            "Orgc": {"name": "Test CSIRT", "uuid": "6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"},
            "Attribute": [
                {
                    "uuid": "7b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e",
                    "type": "ip-dst",
                    "category": "Network activity",
                    "value": "198.51.100.99",
                    "to_ids": True,
                    "timestamp": "1763600000",
                }
            ],
        }
    }
    manifest = {event_uuid: {"info": "Phishing wave", "timestamp": "1763600000"}}
    server.documents["/misp/manifest.json"] = Document(orjson.dumps(manifest))
    server.documents[f"/misp/{event_uuid}.json"] = Document(orjson.dumps(event))
    spec = spec_for("misp-feed", name="local-misp", url=f"{server.base}/misp/")
    registry.add(store, [spec])

    run = run_feed(store, _settings(tmp_path), spec.name, holder="w")
    assert run.status == "ok", run.error
    assert run.new > 0 and run.rejected == 0 and run.adds_up
    assert [p for p, _ in server.requests] == ["/misp/manifest.json", f"/misp/{event_uuid}.json"]
    found = store.search("198.51.100.99")
    assert found.hits and "feed:local-misp" in found.hits[0].sources
