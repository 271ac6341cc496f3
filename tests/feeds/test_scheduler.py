"""The feed scheduler against a real local HTTP server, on SQLite and PostgreSQL: what is due,
unhealthy feeds kept on schedule, two workers sharing the feeds, the loop's stop and its
survival of a bug, ``mburoja worker`` (subprocesses, signals), ``mburoja serve``'s lifespan
and the feed lines of ``/metrics``."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from mburoja.api.app import create_app
from mburoja.config import Settings
from mburoja.feeds import registry
from mburoja.feeds.runner import run_feed
from mburoja.feeds.scheduler import CLAIM_PREFIX, Scheduler, due, slots
from mburoja.store.feeds import FeedRun
from mburoja.store.sql import SqlStore
from tests.cli.helpers import cli
from tests.feeds.feedserver import Document, FeedServer
from tests.feeds.helpers import run_settings, spec_for
from tests.world import served

MBUROJA = str(Path(sys.executable).parent / "mburoja")
HOUR = 3600.0


def _settings(tmp_path: Path, **feeds: Any) -> Settings:
    return run_settings(tmp_path, **{"retries": 0, "unhealthy_after": 2, **feeds})


def _feed(
    store: SqlStore, server: FeedServer, name: str, schedule: str = "1h", enabled: bool = True
) -> str:
    """Register an enabled text feed served at /<name>.txt with two good values."""
    spec = spec_for(
        "text", name=name, url=f"{server.base}/{name}.txt", schedule=schedule, enabled=enabled
    )
    registry.add(store, [spec])
    server.documents[f"/{name}.txt"] = Document(b"192.0.2.10\n198.51.100.20\n", etag=f'"{name}"')
    return name


def _epoch(stamp: str | None) -> float:
    assert stamp is not None
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _wait_for(what: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not what():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- what is due --------------------------------------------------------------------------


def test_due_feeds_follow_each_schedule_from_the_last_run(
    store: SqlStore, server: FeedServer, tmp_path: Path
) -> None:
    settings = _settings(tmp_path)
    hourly = _feed(store, server, "hourly", "1h")
    quarter = _feed(store, server, "quarter", "15m")
    _feed(store, server, "off", "15m", enabled=False)
    start = time.time()
    assert due(store, settings, start) == [hourly, quarter]  # never ran: due, by name

    clock = Clock(start)
    scheduler = Scheduler(store, settings, holder="w", clock=clock)
    runs = scheduler.run_due()
    assert [(r.feed, r.status) for r in runs] == [(hourly, "ok"), (quarter, "ok")]
    assert scheduler.run_due() == []  # nothing is due again at the same moment
    assert store.feed_runs("off") == []

    ends = {name: _epoch(store.feed_state(name).last_run) for name in (hourly, quarter)}
    assert due(store, settings, ends[quarter] + 15 * 60 - 1) == []
    assert due(store, settings, ends[quarter] + 15 * 60) == [quarter]
    assert due(store, settings, max(ends.values()) + HOUR) == [quarter, hourly]  # most overdue
    assert [(s.name, s.due_at) for s in slots(store, settings)] == [
        (quarter, pytest.approx(ends[quarter] + 15 * 60)),
        (hourly, pytest.approx(ends[hourly] + HOUR)),
    ]

    clock.now = ends[quarter] + 15 * 60
    (second,) = scheduler.run_due()
    assert (second.feed, second.status) == (quarter, "not-modified")
    assert [len(store.feed_runs(n)) for n in (hourly, quarter)] == [1, 2]


def test_an_unhealthy_feed_is_still_run_on_its_schedule_and_logged_each_failure(
    store: SqlStore, server: FeedServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path)
    name = _feed(store, server, "flaky", "1h")
    server.documents["/flaky.txt"] = Document(b"", status=503)
    clock = Clock(time.time())
    scheduler = Scheduler(store, settings, holder="w", clock=clock)
    caplog.set_level(logging.INFO, logger="mburoja.feeds.scheduler")

    health = []
    for _ in range(3):
        (run,) = scheduler.run_due()
        assert run.status == "failed" and "HTTP 503" in (run.error or "")
        state = store.feed_state(name)
        health.append((state.failures, state.healthy))
        assert scheduler.run_due() == []  # not again before its schedule
        clock.now = _epoch(state.last_run) + HOUR
    assert health == [(1, True), (2, False), (3, False)]
    assert len(server.hits("/flaky.txt")) == 3
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [(r.feed, r.status, r.failures, r.healthy) for r in warnings] == [  # type: ignore[attr-defined]
        (name, "failed", 1, True),
        (name, "failed", 2, False),
        (name, "failed", 3, False),
    ]
    assert "now marked unhealthy" in warnings[-1].getMessage()

    server.documents["/flaky.txt"] = Document(b"192.0.2.10\n")
    (healed,) = scheduler.run_due()
    assert healed.status == "ok" and store.feed_state(name).healthy
    (info,) = [r for r in caplog.records if r.levelno == logging.INFO]
    fields = {k: getattr(info, k) for k in ("feed", "status", "received", "new", "rejected")}
    assert fields == {
        "feed": name,
        "status": "ok",
        "received": healed.received,
        "new": healed.new,
        "rejected": 0,
    }
    assert info.bytes == len(b"192.0.2.10\n") and info.error is None  # type: ignore[attr-defined]


# -- two workers ----------------------------------------------------------------------------


def _worker(url: str, tmp_path: Path, holder: str, *extra: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MBUROJA_")}
    env |= {"MBUROJA_FEEDS_RETRIES": "0", "MBUROJA_FEEDS_TICK_S": "0.2"}
    command = [MBUROJA, "--store-url", url, "--data-dir", str(tmp_path / "data"), "worker"]
    return subprocess.Popen(
        [*command, "--holder", holder, "--allow-private", *extra],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_two_workers_started_together_run_each_feed_exactly_once(
    store: SqlStore, store_url: str, server: FeedServer, tmp_path: Path
) -> None:
    names = [_feed(store, server, f"feed-{i}") for i in range(4)]
    server.gate = threading.Event()  # every download waits until both workers are busy
    workers = {h: _worker(store_url, tmp_path, h, "--once", "--json") for h in ("wa", "wb")}
    try:
        _wait_for(lambda: len(server.requests) >= 2, 60)
    finally:
        server.gate.set()
    results: dict[str, list[dict[str, Any]]] = {}
    for holder, process in workers.items():
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()
        results[holder] = orjson.loads(out)

    for name in names:
        recorded = store.feed_runs(name)
        assert [r.status for r in recorded] == ["ok"], name
        assert len(server.hits(f"/{name}.txt")) == 1
        seen = sorted(
            (run["status"], holder) for holder, runs in results.items() for run in runs
            if run["feed"] == name
        )  # fmt: skip
        assert [status for status, _ in seen] == ["ok", "skipped"], (name, results)
        state = store.feed_state(name)
        assert (
            state.lease_holder is None
            and store.feed_state(CLAIM_PREFIX + name).lease_holder is None
        )
    # both really worked: each ran some feeds and skipped the rest
    for runs in results.values():
        assert {r["status"] for r in runs} == {"ok", "skipped"}
        assert len(runs) == len(names)


def test_the_worker_loop_runs_due_feeds_and_stops_cleanly_on_sigterm(
    store: SqlStore, store_url: str, server: FeedServer, tmp_path: Path
) -> None:
    name = _feed(store, server, "looped")
    process = _worker(store_url, tmp_path, "loop-worker")
    try:
        _wait_for(lambda: bool(store.feed_runs(name)), 60)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err.decode()
    assert b"feed worker loop-worker running" in out and b"feed worker stopped" in out
    (run,) = store.feed_runs(name)
    assert run.status == "ok"
    line = next(x for x in err.decode().splitlines() if '"feed":"looped"' in x)
    logged = orjson.loads(line)  # one JSON log record per run
    assert (logged["status"], logged["new"], logged["holder"]) == ("ok", run.new, "loop-worker")
    assert store.feed_state(name).lease_holder is None


def test_worker_once_prints_the_runs_and_exits_1_when_one_failed(
    store: SqlStore, store_url: str, server: FeedServer, tmp_path: Path
) -> None:
    assert cli(store_url, "worker", "--once").stdout.strip() == "no feed is due"
    good = _feed(store, server, "good")
    bad = _feed(store, server, "bad")
    server.documents["/bad.txt"] = Document(b"", status=404)
    result = cli(store_url, "worker", "--once", "--allow-private", "--holder", "cron")
    assert result.exit_code == 1, result.output
    rows = {
        line.split()[1]: line
        for line in result.stdout.splitlines()
        if " ok " in line or " failed " in line
    }
    assert set(rows) == {good, bad}
    assert " ok " in rows[good] and " failed " in rows[bad] and "HTTP 404" in rows[bad]
    assert cli(store_url, "worker", "--once").stdout.strip() == "no feed is due"


# -- the loop -----------------------------------------------------------------------------


def test_the_loop_stops_on_its_event_after_the_run_in_progress_and_lets_go_of_the_leases(
    store: SqlStore, server: FeedServer, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, tick_s=0.05)
    first = _feed(store, server, "first")
    second = _feed(store, server, "second")
    server.gate = threading.Event()
    scheduler = Scheduler(store, settings, holder="looper")
    scheduler.start()
    loop = scheduler._thread
    assert loop is not None
    _wait_for(lambda: len(server.requests) == 1)  # the first feed's download is under way
    assert store.feed_state(first).lease_holder == "looper"
    assert store.feed_state(CLAIM_PREFIX + first).lease_holder == "looper"
    scheduler.stopping.set()
    server.gate.set()
    loop.join(30)
    assert not loop.is_alive()
    assert [r.status for r in store.feed_runs(first)] == ["ok"]
    assert store.feed_runs(second) == []  # stopped before the next feed
    assert store.feed_state(first).lease_holder is None
    assert store.feed_state(CLAIM_PREFIX + first).lease_holder is None


def test_a_run_that_raises_is_logged_and_the_loop_goes_on(
    store: SqlStore, server: FeedServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path, tick_s=0.05)
    broken = _feed(store, server, "a-broken")
    fine = _feed(store, server, "b-fine")
    raised: list[str] = []

    def buggy(store: SqlStore, settings: Settings, name: str, **kw: Any) -> FeedRun:
        if name == broken:  # failure injection: a bug in the run itself
            raised.append(name)
            raise RuntimeError("bug in a parser")
        return run_feed(store, settings, name, **kw)

    later = Clock(time.time())

    def clock() -> float:  # each look is an hour later: every feed is due at every pass
        later.now += HOUR
        return later.now

    caplog.set_level(logging.ERROR, logger="mburoja.feeds.scheduler")
    scheduler = Scheduler(store, settings, holder="w", clock=clock, run_feed=buggy)
    scheduler.start()
    try:
        _wait_for(lambda: len(store.feed_runs(fine)) >= 2 and len(raised) >= 2)
    finally:
        scheduler.stop()
    assert scheduler._thread is None
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and all(r.feed == broken and r.exc_info for r in errors)  # type: ignore[attr-defined]
    assert "RuntimeError: bug in a parser" in caplog.text
    assert {r.status for r in store.feed_runs(fine)} <= {"ok", "not-modified"}
    assert store.feed_state(CLAIM_PREFIX + broken).lease_holder is None


# -- mburoja serve --------------------------------------------------------------------------


def _app_settings(tmp_path: Path, **feeds: Any) -> Settings:
    settings = _settings(tmp_path, tick_s=0.05, **feeds)
    settings.auth.secret = "s" * 48
    return settings


def test_serve_runs_due_feeds_in_its_lifespan_and_stops_them_on_shutdown(
    store: SqlStore, server: FeedServer, tmp_path: Path
) -> None:
    store.create_org("CERT Albania", "home")
    name = _feed(store, server, "served")
    app = create_app(_app_settings(tmp_path), store)

    async def start_and_wait() -> list[str]:
        async with app.router.lifespan_context(app):
            for _ in range(600):
                if store.feed_runs(name):
                    break
                await asyncio.sleep(0.05)
            return [t.name for t in threading.enumerate()]

    running = asyncio.run(start_and_wait())
    assert "feed-scheduler" in running
    assert [r.status for r in store.feed_runs(name)] == ["ok"]
    assert "feed-scheduler" not in [t.name for t in threading.enumerate()]
    assert store.feed_state(name).lease_holder is None


def test_serve_leaves_feeds_to_workers_when_told(
    store: SqlStore, server: FeedServer, tmp_path: Path
) -> None:
    store.create_org("CERT Albania", "home")
    _feed(store, server, "for-workers")
    app = create_app(_app_settings(tmp_path, schedule_in_serve=False), store)

    async def start() -> list[str]:
        async with app.router.lifespan_context(app):
            return [t.name for t in threading.enumerate()]

    assert "feed-scheduler" not in asyncio.run(start())


# -- /metrics ---------------------------------------------------------------------------------


def test_metrics_show_each_feeds_health_failures_and_last_run(
    store: SqlStore, server: FeedServer, tmp_path: Path, settings: Settings
) -> None:
    settings.fetch.allow_private = True
    settings.feeds.per_host_interval_s = 0
    settings.feeds.unhealthy_after = 1
    good = _feed(store, server, "m-good")
    sick = _feed(store, server, "m-sick")
    idle = _feed(store, server, "m-idle", enabled=False)
    server.documents["/m-sick.txt"] = Document(b"", status=404)
    ok = run_feed(store, settings, good, holder="t")
    run_feed(store, settings, sick, holder="t")
    with served(store, settings) as world, world.client("same") as client:
        assert client.get("/metrics").status_code == 200  # home organisation only
        text = client.get("/metrics").text
    lines = set(text.splitlines())
    ended = _epoch(store.feed_state(good).last_run)
    expected = {
        f'mburoja_feed_enabled{{feed="{good}"}} 1.0',
        f'mburoja_feed_enabled{{feed="{idle}"}} 0.0',
        f'mburoja_feed_healthy{{feed="{good}"}} 1.0',
        f'mburoja_feed_healthy{{feed="{sick}"}} 0.0',
        f'mburoja_feed_failures{{feed="{good}"}} 0.0',
        f'mburoja_feed_failures{{feed="{sick}"}} 1.0',
        f'mburoja_feed_last_run_ok{{feed="{sick}"}} 0.0',
        f'mburoja_feed_last_run_new{{feed="{good}"}} {float(ok.new)}',
        f'mburoja_feed_last_run_bytes{{feed="{good}"}} {float(ok.bytes)}',
    }
    assert expected <= lines, sorted(line for line in lines if "mburoja_feed_" in line)
    (stamp,) = [
        x
        for x in lines
        if x.startswith(f'mburoja_feed_last_run_timestamp_seconds{{feed="{good}"}}')
    ]
    assert float(stamp.split()[-1]) == pytest.approx(ended)
    (next_due,) = [
        x
        for x in lines
        if x.startswith(f'mburoja_feed_next_run_timestamp_seconds{{feed="{good}"}}')
    ]
    assert float(next_due.split()[-1]) == pytest.approx(ended + HOUR)
    assert not any(f'feed="{idle}"' in x and "next_run" in x for x in lines)  # disabled
    shipped_names = {f.name for f in registry.all_feeds(store, settings) if not f.registered}
    assert shipped_names and not any(f'feed="{n}"' in text for n in shipped_names)
