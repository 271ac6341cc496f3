"""A full-snapshot feed that still lists a value keeps its indicator fresh.

A feed stores a value's indicator once; later runs find it unchanged. Without the feed's
listing as a decay reset, a value a blocklist keeps listing would leave detection after
its lifetime although the feed still lists it today. These tests run real feeds
(``run_feed`` against the local test HTTP server) with fake run times, and ask the index,
the exports and the views at explicit moments.

Numbers (the shipped model): the feeds' confidence is 60, so base 60; an IP's lifetime is
30 days, speed 0.3, threshold 30. The score reaches 30 after 30 * (1 - 30/60)^0.3 days:
ln 0.5 = -0.6931472, * 0.3 = -0.2079442, exp = 0.8122524, so 24.36757 days after the reset.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from mburoja.cli.export_cmd import org_caller
from mburoja.config import Settings
from mburoja.detect.exports import gather
from mburoja.detect.index import Delta, IndexFeed
from mburoja.feeds import registry
from mburoja.feeds.runner import run_feed
from mburoja.lifecycle.decay import DAY, defaults
from mburoja.lifecycle.scores import object_decay, recompute
from mburoja.stix import timestamps
from mburoja.store.feeds import FeedRun
from mburoja.store.sql import SqlStore
from mburoja.web.lookup import Filters, search
from mburoja.web.objects import object_view
from tests.feeds.feedserver import Document, FeedServer
from tests.feeds.helpers import run_settings, spec_for
from tests.world import build_world

A, B, C = "192.0.2.10", "198.51.100.20", "203.0.113.30"
T0 = timestamps.parse("2026-01-01T00:00:00.000Z").timestamp()
SPAN_DAYS = 24.36757  # see the module docstring


def day(n: float) -> float:
    return T0 + n * DAY


def stamp(n: float) -> str:
    return datetime.fromtimestamp(day(n), UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _settings(tmp_path: Path) -> Settings:
    return run_settings(tmp_path, retries=0)


class Feeds:
    """Two feeds on the test server: ``snap`` (a full snapshot, values withdrawn only after
    5 good runs without them, so decay is what ends them here) and ``plain`` (not a
    snapshot)."""

    def __init__(self, store: SqlStore, server: FeedServer, settings: Settings) -> None:
        self.store, self.server, self.settings = store, server, settings
        self.version = 0
        registry.add(
            store,
            [
                spec_for(
                    "text",
                    name="snap",
                    url=f"{server.base}/snap.txt",
                    full_snapshot=True,
                    missing_runs=5,
                ),
                spec_for("text", name="plain", url=f"{server.base}/plain.txt"),
            ],
        )

    def serve(self, path: str, *values: str) -> None:
        self.version += 1
        body = "# list\n" + "".join(f"{v}\n" for v in values)
        self.server.documents[path] = Document(body.encode(), etag=f'"v{self.version}"')

    def run(self, name: str, at: float, status: str = "ok") -> FeedRun:
        done = run_feed(self.store, self.settings, name, holder="w", now=stamp(at))
        assert done.status == status, done.error
        assert (done.new_versions, done.withdrawn) == (0, 0)
        return done

    def relist_plain(self, at: float) -> None:
        """``plain`` lists C again: everything is found unchanged, no new version."""
        self.serve("/plain.txt", C)
        done = self.run("plain", at)
        assert done.new == 0 and done.unchanged == done.received > 0


def added(delta: Delta) -> list[str]:
    return [c.id for c in delta.added]


def _id(store: SqlStore, value: str) -> str:
    (hit,) = [h for h in store.search(value).hits if h.type == "indicator"]
    return hit.id


def _first_runs(feeds: Feeds) -> dict[str, str]:
    """Day 0: ``snap`` lists A and B, ``plain`` lists C. Returns value -> indicator id."""
    feeds.serve("/snap.txt", A, B)
    feeds.serve("/plain.txt", C)
    feeds.run("snap", 0)
    feeds.run("plain", 0)
    return {v: _id(feeds.store, v) for v in (A, B, C)}


def _later_runs(feeds: Feeds) -> None:
    """Day 20: ``snap`` answers 304 (its list did not change, so it still lists A and B).
    Day 39: ``snap`` lists A only; ``plain`` lists C again (found unchanged)."""
    feeds.run("snap", 20, status="not-modified")
    feeds.serve("/snap.txt", A)
    feeds.run("snap", 39)
    feeds.relist_plain(39)


def test_the_index_keeps_listed_values_and_drops_them_from_their_last_listing(
    store: SqlStore, server: FeedServer, tmp_path: Path
) -> None:
    feeds = Feeds(store, server, _settings(tmp_path))
    ids = _first_runs(feeds)
    index = IndexFeed(store)
    assert set(added(index.refresh(day(1)))) == set(ids.values())

    feeds.run("snap", 20, status="not-modified")
    # day 30: every drop moment (day 24.37) came due; the 304 at day 20 listed A and B
    delta = index.refresh(day(30))
    assert delta.removed == [ids[C]] and not delta.added
    assert set(index.active) == {ids[A], ids[B]} and index.decayed == {ids[C]}
    assert index.active[ids[A]] == pytest.approx(day(20 + SPAN_DAYS), abs=1)

    feeds.serve("/snap.txt", A)
    feeds.run("snap", 39)
    feeds.relist_plain(39)  # it stays decayed: the plain feed is no snapshot
    assert not index.refresh(day(40))
    assert set(index.active) == {ids[A], ids[B]}

    # day 45: B was last listed at day 20, so it drops at 44.37; A, listed at 39, stays
    delta = index.refresh(day(45))
    assert delta.removed == [ids[B]] and not delta.added
    assert set(index.active) == {ids[A]} and index.decayed == {ids[B], ids[C]}
    assert index.report().decayed == 2

    # day 50: the feed lists B again; the next refresh brings it back without a new version
    feeds.serve("/snap.txt", A, B)
    feeds.run("snap", 50)
    delta = index.refresh(day(50.5))
    assert added(delta) == [ids[B]] and not delta.removed
    assert set(index.active) == {ids[A], ids[B]}
    assert index.active[ids[B]] == pytest.approx(day(50 + SPAN_DAYS), abs=1)
    assert not index.refresh(day(51))  # no feed ran since: nothing changes


def test_exports_views_and_recompute_count_the_listing(
    store: SqlStore, server: FeedServer, tmp_path: Path, settings: Settings
) -> None:
    build_world(store, settings)
    feeds = Feeds(store, server, _settings(tmp_path))
    ids = _first_runs(feeds)
    _later_runs(feeds)
    caller, name = org_caller(store, None)

    # a fresh index at day 40: A (listed day 39) and B (listed day 20) are active; C, from a
    # feed that is no snapshot, decays from its valid_from (day 0) although listed again
    index = IndexFeed(store)
    index.refresh(day(40))
    assert set(index.active) == {ids[A], ids[B]} and index.decayed == {ids[C]}
    at40 = gather(store, caller, name, at=stamp(40))
    assert {c.id for c in at40.indicators} == {ids[A], ids[B]}
    # (its modified equals its valid_from, day 0; on a tie the reset is called "modified")
    assert [(c.id, d.reset, d.reset_by) for c, d in at40.decayed] == [(ids[C], day(0), "modified")]

    # day 45: B dropped from its last listing, the 304 at day 20
    at45 = gather(store, caller, name, at=stamp(45))
    assert [c.id for c in at45.indicators] == [ids[A]]
    fell = {c.id: d for c, d in at45.decayed}
    assert set(fell) == {ids[B], ids[C]}
    assert (fell[ids[B]].reset, fell[ids[B]].reset_by) == (day(20), "listed by feed snap")
    assert added(IndexFeed(store).refresh(day(45))) == [ids[A]]

    # what people see: the reset by the listing, in decay show, the object page and search
    shown = object_decay(store, defaults(), ids[A], policy=None, caller=None, now=day(40))
    assert shown is not None
    assert (shown.reset, shown.reset_by) == (stamp(39), "listed by feed snap")
    assert not shown.below_threshold and shown.score == pytest.approx(60, abs=0.01)
    plain = object_decay(store, defaults(), ids[C], policy=None, caller=None, now=day(40))
    assert plain is not None and plain.below_threshold
    assert (plain.reset, plain.reset_by) == (stamp(0), "modified")
    policy = store.policy()
    view = object_view(store, policy, caller, ids[B], decay=defaults(), now=day(40))
    assert view.decay is not None
    assert (view.decay.reset, view.decay.reset_by) == (stamp(20), "listed by feed snap")
    found = search(store, policy, caller, Filters(query=A), decay=defaults(), now=day(40))
    hits = [(h.id, h.decay.reset_by if h.decay else None) for h in found.hits]
    assert [hit for hit in hits if hit[0].startswith("indicator--")] == [
        (ids[A], "listed by feed snap")
    ]

    # the recompute job: only C is under the threshold at day 40, B joins it at day 45
    assert recompute(store, defaults(), now=day(40)).below == 1
    assert recompute(store, defaults(), now=day(45)).below == 2


def test_listed_times_follow_the_good_runs(
    store: SqlStore, server: FeedServer, tmp_path: Path
) -> None:
    feeds = Feeds(store, server, _settings(tmp_path))
    ids = _first_runs(feeds)
    assert store.listed_times(ids.values()) == {
        ids[A]: (day(0), "snap"),
        ids[B]: (day(0), "snap"),
    }
    listing = feeds.server.documents["/snap.txt"]
    feeds.server.documents["/snap.txt"] = Document(b"", status=500)
    feeds.run("snap", 5, status="failed")  # a failed run lists nothing
    feeds.server.documents["/snap.txt"] = listing
    assert store.listed_times([ids[A]]) == {ids[A]: (day(0), "snap")}
    _later_runs(feeds)
    listed = {ids[A]: (day(39), "snap"), ids[B]: (day(20), "snap")}
    assert store.listed_times(ids.values()) == listed
    assert store.listed_times() == listed  # every tracked value
    assert store.listed_times([]) == {}
