"""Running enabled feeds on their schedules: inside ``mburoja serve`` or in ``mburoja worker``.

* **Due.** An enabled feed is due when it never ran, or when its last run (ok, not-modified
  or failed: ``feed_state.last_run``) is ``spec.interval_s`` old. A failing feed, even one
  marked unhealthy, is tried again on its schedule and logged as a warning each time it fails:
  it is never dropped, and ``/metrics`` and ``mburoja feed list`` show its health.
* **One run per due time, across workers.** ``run_feed`` takes the feed's lease, so two
  workers never run a feed *at once*; but a worker that saw a feed due while another was
  running it would run it again as soon as the other let go. So each due feed is first
  *claimed* (a second lease, ``schedule:<name>``, held across the check and the run), and
  due-ness is checked again under the claim: whoever comes second finds the new ``last_run``
  and reports the feed ``skipped``. A crashed worker's claim runs out with
  ``feeds.lease_seconds``, like the feed's own lease.
* **The loop** looks every ``feeds.tick_s`` seconds (sooner when a feed falls due before
  that), runs what is due one at a time or ``feeds.parallel`` at a time, and stops when its
  ``threading.Event`` is set, after the run in progress (leases are given back as each run
  ends). Each run is one log record (JSON with ``mburoja serve``'s logging): feed, status,
  duration, bytes, counts, rate and error. A run that raises (a bug) is logged with its
  traceback and the loop goes on.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import msgspec

from mburoja.config import Settings
from mburoja.errors import NotFound
from mburoja.feeds import registry, runner
from mburoja.feeds.catalogue import FeedSpec
from mburoja.stix import timestamps
from mburoja.store.feeds import FeedRun, FeedState
from mburoja.store.sql import SqlStore

log = logging.getLogger(__name__)

#: The claim of feed ``x`` is the lease of ``schedule:x`` (feed names cannot hold a colon).
CLAIM_PREFIX = "schedule:"

Clock = Callable[[], float]
RunFeed = Callable[..., FeedRun]


class Slot(msgspec.Struct, frozen=True, kw_only=True):
    """An enabled feed and when it is next due (Unix time; 0 if it never ran)."""

    name: str
    due_at: float
    healthy: bool
    failures: int


def default_holder(kind: str) -> str:
    """A worker name that says where it runs: ``kind:host:pid``."""
    return f"{kind}:{socket.gethostname()}:{os.getpid()}"


def due_at(spec: FeedSpec, state: FeedState) -> float:
    """When the feed of ``spec`` is next due, given its ``state`` (0 if it never ran)."""
    if state.last_run is None:
        return 0.0
    return timestamps.parse(state.last_run).timestamp() + spec.interval_s


def slots(store: SqlStore, settings: Settings) -> list[Slot]:
    """Every enabled feed with its next due time, soonest first (then by name)."""
    found = []
    for feed in registry.all_feeds(store, settings):
        if not feed.enabled:
            continue
        state = store.feed_state(feed.name)
        found.append(
            Slot(
                name=feed.name,
                due_at=due_at(feed.spec, state),
                healthy=state.healthy,
                failures=state.failures,
            )
        )
    return sorted(found, key=lambda s: (s.due_at, s.name))


def due(store: SqlStore, settings: Settings, now: float) -> list[str]:
    """The names of the enabled feeds due at ``now`` (Unix time), most overdue first."""
    return [s.name for s in slots(store, settings) if s.due_at <= now]


class Scheduler:
    """Runs due feeds as worker ``holder`` (see the module docstring).

    ``stopping`` ends the loop when set (``stop()`` sets it); ``clock`` is Unix time (tests
    move it); ``run_feed`` is ``runner.run_feed`` unless a test injects a failure;
    ``transport`` goes to every run (tests only)."""

    def __init__(
        self,
        store: SqlStore,
        settings: Settings,
        *,
        holder: str,
        stopping: threading.Event | None = None,
        clock: Clock = time.time,
        run_feed: RunFeed = runner.run_feed,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.holder = holder
        self._clock = clock
        self._run_feed = run_feed
        self._transport = transport
        self.stopping = stopping if stopping is not None else threading.Event()
        self._thread: threading.Thread | None = None

    # -- one pass ------------------------------------------------------------------------

    def run_due(self) -> list[FeedRun]:
        """Run every feed due now, once; the runs, skipped ones included, in due order."""
        names = due(self.store, self.settings, self._clock())
        parallel = max(self.settings.feeds.parallel, 1)
        if parallel == 1 or len(names) <= 1:
            runs = [self._one(name) for name in names]
        else:
            with ThreadPoolExecutor(min(parallel, len(names)), "feed-run") as pool:
                runs = list(pool.map(self._one, names))
        return [run for run in runs if run is not None]

    def _one(self, name: str) -> FeedRun | None:
        """Claim, check and run feed ``name``; None if stopping or it was switched off."""
        if self.stopping.is_set():
            return None
        claim = CLAIM_PREFIX + name
        run: FeedRun | None
        try:
            if not self.store.acquire_feed_lease(
                claim, self.holder, self.settings.feeds.lease_seconds
            ):
                holder = self.store.feed_state(claim).lease_holder
                run = _skipped(name, f"running elsewhere (scheduled by {holder})")
            else:
                try:
                    run = self._checked_run(name)
                finally:
                    self.store.release_feed_lease(claim, self.holder)
        except NotFound:
            return None  # removed since the pass began
        except Exception as exc:  # a bug: log it, and let the other feeds run
            log.exception(
                "feed %s: the run failed with an internal error; the scheduler goes on",
                name,
                extra={"feed": name, "status": "error"},
            )
            return _failed(name, f"internal error: {type(exc).__name__}: {exc}")
        if run is not None:
            self._log(run)
        return run

    def _checked_run(self, name: str) -> FeedRun | None:
        """Under the claim: run feed ``name`` if it is still enabled and still due."""
        feed = registry.find(self.store, self.settings, name)
        if not feed.enabled:
            return None
        state = self.store.feed_state(name)
        if due_at(feed.spec, state) > self._clock():
            return _skipped(name, f"ran elsewhere (last run {state.last_run})")
        extra = {} if self._transport is None else {"transport": self._transport}
        run: FeedRun = self._run_feed(self.store, self.settings, name, holder=self.holder, **extra)
        return run

    def _log(self, run: FeedRun) -> None:
        fields = {
            "feed": run.feed,
            "status": run.status,
            "duration_s": round(run.duration_s, 3),
            "bytes": run.bytes,
            "received": run.received,
            "new": run.new,
            "new_versions": run.new_versions,
            "unchanged": run.unchanged,
            "rejected": run.rejected,
            "rate": round(run.rate, 1),
            "error": run.error,
            "holder": self.holder,
        }
        if run.status == "skipped":
            log.debug("feed %s skipped: %s", run.feed, run.error, extra=fields)
        elif run.status == "failed":
            state = self.store.feed_state(run.feed)
            fields |= {"failures": state.failures, "healthy": state.healthy}
            health = "" if state.healthy else ", now marked unhealthy"
            log.warning(
                "feed %s failed (%d in a row%s): %s; tried again on its schedule",
                run.feed,
                state.failures,
                health,
                run.error,
                extra=fields,
            )
        else:
            log.info(
                "feed %s: %s, %d received, %d new, %d rejected",
                run.feed,
                run.status,
                run.received,
                run.new,
                run.rejected,
                extra=fields,
            )

    # -- the loop ------------------------------------------------------------------------

    def pause(self) -> float:
        """How long to wait before the next look: ``feeds.tick_s``, or less if a feed that
        is not due yet falls due sooner."""
        tick = max(self.settings.feeds.tick_s, 0.05)
        now = self._clock()
        upcoming = [s.due_at - now for s in slots(self.store, self.settings) if s.due_at > now]
        return min([tick, *upcoming])

    def run(self) -> None:
        """Run due feeds until ``stopping`` is set; never raises."""
        while not self.stopping.is_set():
            wait = self.settings.feeds.tick_s
            try:
                self.run_due()
                wait = self.pause()
            except Exception:
                log.exception("feed scheduler: cannot read the feeds; trying again")
            self.stopping.wait(max(wait, 0.05))

    def start(self) -> None:
        """Run the loop in a background thread (``mburoja serve``)."""
        self.stopping.clear()
        self._thread = threading.Thread(target=self.run, name="feed-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the loop after the run in progress; wait up to ``timeout`` seconds for it."""
        self.stopping.set()
        if self._thread is None:
            return
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning(
                "feed scheduler: a feed run is still going after %.0fs; its lease runs out "
                "after feeds.lease_seconds if this process ends first",
                timeout,
            )
        self._thread = None


def run_once(
    store: SqlStore, settings: Settings, *, holder: str, clock: Clock = time.time
) -> list[FeedRun]:
    """Run every feed due now once, as worker ``holder``; the runs (``mburoja worker
    --once``)."""
    return Scheduler(store, settings, holder=holder, clock=clock).run_due()


def _skipped(name: str, why: str) -> FeedRun:
    stamp = timestamps.now()
    return FeedRun(feed=name, started=stamp, finished=stamp, status="skipped", error=why)


def _failed(name: str, why: str) -> FeedRun:
    stamp = timestamps.now()
    return FeedRun(feed=name, started=stamp, finished=stamp, status="failed", error=why)
