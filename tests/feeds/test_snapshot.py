"""Full-snapshot feeds: a value missing for ``missing_runs`` good runs gets ``valid_until``
in a new version, leaves the active index, stays stored, and comes back if listed again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from mburoja.config import Settings
from mburoja.detect.index import active_indicators, epoch
from mburoja.errors import ConfigError
from mburoja.feeds import catalogue, registry
from mburoja.feeds.runner import run_feed
from mburoja.ingest.pipeline import Ingestor
from mburoja.lifecycle.decay import DecayModels
from mburoja.stix.model import RawObject
from mburoja.store.sql import SqlStore
from tests.feeds.feedserver import Document, FeedServer
from tests.feeds.helpers import run_settings, spec_for

A, B, C = "192.0.2.10", "198.51.100.20", "203.0.113.30"
TIMES = [f"2026-11-22T{hour:02d}:00:00.000Z" for hour in range(12)]


def _settings(tmp_path: Path) -> Settings:
    return run_settings(tmp_path, retries=0)


class Lists:
    """Serves versions of a plain list, each with its own ETag."""

    def __init__(self, server: FeedServer) -> None:
        self.server = server
        self.version = 0

    def serve(self, *values: str, status: int = 200) -> None:
        self.version += 1
        body = "# snapshot\n" + "".join(f"{v}\n" for v in values)
        self.server.documents["/list.txt"] = Document(
            body.encode(), etag=f'"v{self.version}"', status=status
        )


def _register(store: SqlStore, server: FeedServer, missing_runs: int = 2) -> str:
    spec = spec_for(
        "text",
        name="snap",
        url=f"{server.base}/list.txt",
        full_snapshot=True,
        missing_runs=missing_runs,
    )
    registry.add(store, [spec])
    return spec.name


def _indicator_id(store: SqlStore, value: str) -> str:
    (hit,) = [h for h in store.search(value).hits if h.type == "indicator"]
    return hit.id


def _current(store: SqlStore, oid: str) -> dict[str, Any]:
    version = store.current(oid)
    assert version is not None
    parsed: dict[str, Any] = orjson.loads(version.raw)
    return parsed


def _active_ids(store: SqlStore, at: str) -> set[str]:
    moment = epoch(at)
    assert moment is not None
    return {c.id for c in active_indicators(store, now=moment + 1, decay=DecayModels(()))}


def test_a_value_missing_for_n_good_runs_is_withdrawn_and_comes_back_when_listed(
    store: SqlStore, server: FeedServer, tmp_path: Path
) -> None:
    settings = _settings(tmp_path)
    lists = Lists(server)
    name = _register(store, server, missing_runs=2)

    lists.serve(A, B, C)
    first = run_feed(store, settings, name, holder="w", now=TIMES[1])
    assert first.status == "ok", first.error
    ids = {v: _indicator_id(store, v) for v in (A, B, C)}
    assert store.feed_values(name) == {i: 0 for i in ids.values()}
    assert set(ids.values()) <= _active_ids(store, TIMES[1])

    lists.serve(A, B)  # C is gone: one good run missing
    second = run_feed(store, settings, name, holder="w", now=TIMES[2])
    assert second.status == "ok" and second.withdrawn == 0
    assert store.feed_values(name)[ids[C]] == 1

    # a 304 and a failed run say nothing about the list: they do not count as missing
    third = run_feed(store, settings, name, holder="w", now=TIMES[3])
    assert third.status == "not-modified"
    lists.serve(A, B, status=500)
    fourth = run_feed(store, settings, name, holder="w", now=TIMES[4])
    assert fourth.status == "failed"
    assert store.feed_values(name)[ids[C]] == 1
    assert "valid_until" not in _current(store, ids[C])

    lists.serve(A, B)  # the second good run without C: withdrawn
    fifth = run_feed(store, settings, name, holder="w", now=TIMES[5])
    assert fifth.status == "ok", fifth.error
    assert fifth.withdrawn == 1 and fifth.adds_up
    assert fifth.new_versions == 1  # the withdrawing version is the run's one new version
    withdrawn = _current(store, ids[C])
    assert withdrawn["valid_until"] == TIMES[5] and withdrawn["modified"] == TIMES[5]
    versions = store.versions(ids[C])
    assert len(versions) == 2 and versions[-1].source == "feed:snap"
    assert ids[C] not in store.feed_values(name)
    # out of the active index, still stored and searchable; the others stay active
    active = _active_ids(store, TIMES[5])
    assert ids[C] not in active and {ids[A], ids[B]} <= active
    assert store.search(C).hits

    lists.serve(A, B)  # still missing: withdrawn once, not again
    sixth = run_feed(store, settings, name, holder="w", now=TIMES[6])
    assert sixth.withdrawn == 0 and len(store.versions(ids[C])) == 2

    lists.serve(A, B, C)  # listed again: the feed's ordinary object is a new version
    seventh = run_feed(store, settings, name, holder="w", now=TIMES[7])
    assert seventh.status == "ok", seventh.error
    assert seventh.withdrawn == 0 and seventh.new_versions == 1
    back = _current(store, ids[C])
    assert "valid_until" not in back and back["modified"] == TIMES[7]
    assert len(store.versions(ids[C])) == 3
    assert ids[C] in _active_ids(store, TIMES[7])
    assert store.feed_values(name)[ids[C]] == 0

    lists.serve(A, B, C)  # the same list again changes nothing
    eighth = run_feed(store, settings, name, holder="w", now=TIMES[8])
    assert (eighth.new, eighth.new_versions, eighth.withdrawn) == (0, 0, 0)


def test_a_value_whose_current_version_is_someone_elses_is_not_withdrawn(
    store: SqlStore, server: FeedServer, tmp_path: Path, settings: Settings
) -> None:
    local = _settings(tmp_path)
    lists = Lists(server)
    name = _register(store, server, missing_runs=1)
    lists.serve(A, C)
    assert run_feed(store, local, name, holder="w", now=TIMES[1]).status == "ok"
    oid = _indicator_id(store, C)
    edited = _current(store, oid) | {"modified": TIMES[2], "description": "analyst: keep"}
    report = Ingestor(store, settings).run(
        [RawObject(orjson.dumps(edited), "analyst", 0)], source="analyst"
    )
    assert report.new_versions == 1

    lists.serve(A)
    run = run_feed(store, local, name, holder="w", now=TIMES[3])
    assert run.status == "ok" and run.withdrawn == 0
    current = _current(store, oid)
    assert "valid_until" not in current and current["description"] == "analyst: keep"
    assert oid not in store.feed_values(name)  # left to its owner, no longer tracked


def test_an_empty_download_counts_nothing_as_missing(
    store: SqlStore, server: FeedServer, tmp_path: Path
) -> None:
    settings = _settings(tmp_path)
    lists = Lists(server)
    name = _register(store, server, missing_runs=1)
    lists.serve(A)
    assert run_feed(store, settings, name, holder="w", now=TIMES[1]).status == "ok"
    lists.serve()  # only the comment line
    run = run_feed(store, settings, name, holder="w", now=TIMES[2])
    assert run.status == "ok" and run.withdrawn == 0
    assert set(store.feed_values(name).values()) == {0}


def test_advancing_many_values_writes_the_changes_in_bulk(store: SqlStore) -> None:
    ids = {f"indicator--{n:08d}-0000-4000-8000-000000000000" for n in range(20_000)}
    assert store.advance_feed_values("bulk", ids, TIMES[1]) == {}
    dropped = set(sorted(ids)[:300])
    gone = store.advance_feed_values("bulk", ids - dropped, TIMES[2])
    assert gone == dict.fromkeys(dropped, 1)
    gone = store.advance_feed_values("bulk", ids - dropped, TIMES[3])
    assert gone == dict.fromkeys(dropped, 2)
    back = set(sorted(dropped)[:100])
    gone = store.advance_feed_values("bulk", (ids - dropped) | back, TIMES[4])
    assert gone == dict.fromkeys(dropped - back, 3)
    values = store.feed_values("bulk")
    assert len(values) == len(ids) and sum(1 for m in values.values() if m) == 200
    store.forget_feed_values("bulk", sorted(dropped - back))
    assert len(store.feed_values("bulk")) == len(ids) - 200
    assert store.feed_values("other") == {}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"missing_runs": 0}, "feed 'snap': missing_runs: 0 is below 1"),
        (
            {"format": "misp-feed", "full_snapshot": True},
            "full_snapshot: a misp-feed feed is read incrementally",
        ),
    ],
)
def test_the_catalogue_checks_the_snapshot_fields(fields: dict[str, Any], message: str) -> None:
    entry = {
        "name": "snap",
        "provider": "tests",
        "url": "https://feed.example/list.txt",
        "format": "text",
        "schedule": "1h",
        "full_snapshot": True,
        **fields,
    }
    lines = [f"{k} = {orjson.dumps(v).decode()}" for k, v in entry.items()]
    text = "[[feed]]\n" + "\n".join(lines)
    with pytest.raises(ConfigError) as caught:
        catalogue.parse(text, "mine.toml")
    assert message in str(caught.value)
    assert str(caught.value).startswith("mine.toml: ")
