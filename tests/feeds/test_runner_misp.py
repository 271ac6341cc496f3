"""MISP feed runs are incremental by manifest timestamps, against a real local HTTP server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from mburoja.config import Settings
from mburoja.feeds import registry
from mburoja.feeds.runner import run_feed
from mburoja.store.sql import SqlStore
from tests.feeds.feedserver import Document, FeedServer
from tests.feeds.helpers import run_settings, spec_for

UUIDS = (
    "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a51",
    "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a52",
    "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a53",
)
ORG = {"name": "Test CSIRT", "uuid": "6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"}


def _settings(tmp_path: Path) -> Settings:
    return run_settings(tmp_path)


def _event(number: int, timestamp: int, ips: list[str]) -> dict[str, Any]:
    uuid = UUIDS[number]
    return {
        "Event": {
            "uuid": uuid,
            "info": f"Test event {number}",
            "date": "2026-11-20",
            "timestamp": str(timestamp),
            "published": True,
            "threat_level_id": "2",
            "analysis": "2",
            "Orgc": ORG,
            "Attribute": [
                {
                    "uuid": f"7b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4{number:02d}{k:1d}",
                    "type": "ip-dst",
                    "category": "Network activity",
                    "value": ip,
                    "to_ids": True,
                    "timestamp": str(timestamp),
                }
                for k, ip in enumerate(ips)
            ],
        }
    }


class MispFeed:
    """A MISP feed directory served by the feed server: events and their manifest."""

    def __init__(self, server: FeedServer, etag: bool) -> None:
        self.server = server
        self.etag = etag
        self.events: dict[str, dict[str, Any]] = {}
        self.version = 0

    def put(self, number: int, timestamp: int, ips: list[str]) -> None:
        event = _event(number, timestamp, ips)
        self.events[UUIDS[number]] = event
        self.server.documents[f"/misp/{UUIDS[number]}.json"] = Document(orjson.dumps(event))
        self.publish()

    def publish(self) -> None:
        """Serve the manifest of the current events (a new ETag for each change)."""
        self.version += 1
        manifest = {
            u: {"info": e["Event"]["info"], "timestamp": e["Event"]["timestamp"], "Orgc": ORG}
            for u, e in self.events.items()
        }
        tag = f'"m{self.version}"' if self.etag else None
        self.server.documents["/misp/manifest.json"] = Document(orjson.dumps(manifest), etag=tag)

    def paths(self, since: int) -> list[str]:
        return [p for p, _ in self.server.requests[since:]]


def _register(store: SqlStore, server: FeedServer) -> str:
    spec = spec_for("misp-feed", name="local-misp", url=f"{server.base}/misp/")
    registry.add(store, [spec])
    return spec.name


def _event_path(number: int) -> str:
    return f"/misp/{UUIDS[number]}.json"


def test_unchanged_events_are_skipped_and_a_changed_one_alone_is_fetched(
    store: SqlStore, server: FeedServer, tmp_path: Path
) -> None:
    settings = _settings(tmp_path)
    feed = MispFeed(server, etag=False)  # no validators: the manifest is read every run
    feed.put(0, 1763600000, ["198.51.100.1", "198.51.100.2"])
    feed.put(1, 1763600100, ["198.51.100.3"])
    feed.put(2, 1763600200, ["198.51.100.4"])
    name = _register(store, server)

    first = run_feed(store, settings, name, holder="w", now="2026-11-22T00:00:00.000Z")
    assert first.status == "ok", first.error
    assert (first.events_fetched, first.events_skipped) == (3, 0)
    assert first.adds_up and first.received > 0 and first.rejected == 0
    assert sorted(feed.paths(0)) == sorted(["/misp/manifest.json", *map(_event_path, (0, 1, 2))])
    assert store.feed_events(name) == {
        u: int(e["Event"]["timestamp"]) for u, e in feed.events.items()
    }

    mark = len(server.requests)
    second = run_feed(store, settings, name, holder="w", now="2026-11-22T01:00:00.000Z")
    assert second.status == "ok", second.error
    assert feed.paths(mark) == ["/misp/manifest.json"]  # nothing but the manifest
    assert (second.events_fetched, second.events_skipped) == (0, 3)
    assert (second.received, second.new, second.new_versions) == (0, 0, 0)

    feed.put(1, 1763609999, ["198.51.100.3", "203.0.113.77"])  # one event changes
    mark = len(server.requests)
    third = run_feed(store, settings, name, holder="w", now="2026-11-22T02:00:00.000Z")
    assert third.status == "ok", third.error
    assert feed.paths(mark) == ["/misp/manifest.json", _event_path(1)]
    assert (third.events_fetched, third.events_skipped) == (1, 2)
    assert third.adds_up and third.new > 0
    found = store.search("203.0.113.77")
    assert found.hits and "feed:local-misp" in found.hits[0].sources
    assert store.feed_events(name)[UUIDS[1]] == 1763609999

    # an event dropped from the manifest is forgotten; the others are still skipped
    del feed.events[UUIDS[2]]
    feed.publish()
    fourth = run_feed(store, settings, name, holder="w", now="2026-11-22T03:00:00.000Z")
    assert (fourth.events_fetched, fourth.events_skipped) == (0, 2)
    assert set(store.feed_events(name)) == {UUIDS[0], UUIDS[1]}


def test_an_unchanged_manifest_is_a_304_and_fetches_no_event(
    store: SqlStore, server: FeedServer, tmp_path: Path
) -> None:
    settings = _settings(tmp_path)
    feed = MispFeed(server, etag=True)
    feed.put(0, 1763600000, ["198.51.100.1"])
    name = _register(store, server)
    assert run_feed(store, settings, name, holder="w").status == "ok"
    mark = len(server.requests)
    again = run_feed(store, settings, name, holder="w")
    assert again.status == "not-modified"
    assert feed.paths(mark) == ["/misp/manifest.json"]
    assert server.answers[-1] == ("/misp/manifest.json", 304, "")
    assert (again.events_fetched, again.events_skipped, again.received) == (0, 0, 0)


def test_a_failed_event_is_a_reject_the_others_land_and_it_is_fetched_next_run(
    store: SqlStore, server: FeedServer, tmp_path: Path
) -> None:
    settings = _settings(tmp_path)
    feed = MispFeed(server, etag=True)
    feed.put(0, 1763600000, ["198.51.100.1"])
    feed.put(1, 1763600100, ["198.51.100.2"])
    feed.put(2, 1763600200, ["198.51.100.3"])
    server.documents[_event_path(1)].status = 503  # transient, and still failing on the retry
    name = _register(store, server)

    first = run_feed(store, settings, name, holder="w", sleep=lambda _s: None)
    assert first.status == "ok", first.error
    assert (first.events_fetched, first.events_skipped) == (3, 0)
    assert first.rejected == 1 and first.adds_up
    (reject,) = store.quarantine_for_ingest(first.ingest_id or 0)
    assert reject[1] == f"grouping--{UUIDS[1]}" and UUIDS[1] in reject[3]  # names the event
    assert store.search("198.51.100.1").hits and store.search("198.51.100.3").hits
    assert not store.search("198.51.100.2").hits
    assert UUIDS[1] not in store.feed_events(name)  # its timestamp is not remembered
    assert store.feed_state(name).etag is None  # so the manifest is read again, not a 304

    server.documents[_event_path(1)].status = 200
    mark = len(server.requests)
    second = run_feed(store, settings, name, holder="w", sleep=lambda _s: None)
    assert second.status == "ok", second.error
    assert feed.paths(mark) == ["/misp/manifest.json", _event_path(1)]
    assert server.answers[len(server.answers) - 2][1] == 200  # the manifest, read in full
    assert (second.events_fetched, second.events_skipped, second.rejected) == (1, 2, 0)
    assert store.search("198.51.100.2").hits
    assert set(store.feed_events(name)) == set(UUIDS)
    assert store.feed_state(name).etag == f'"m{feed.version}"'


def test_every_request_of_a_run_waits_for_the_per_host_limit(
    store: SqlStore, server: FeedServer, tmp_path: Path
) -> None:
    """The manifest and each event are requests to one host: with a limit of 0.25 s between
    them, a run of three requests cannot take less than two intervals (a lower bound holds
    whatever the machine's speed)."""
    feed = MispFeed(server, etag=False)
    feed.put(0, 1763600000, ["198.51.100.1"])
    feed.put(1, 1763600000, ["198.51.100.2"])
    name = _register(store, server)
    settings = _settings(tmp_path)
    settings.feeds.per_host_interval_s = 0.25
    run = run_feed(store, settings, name, holder="w")
    assert run.status == "ok" and len(server.requests) == 3
    assert run.duration_s >= 0.5
