"""One run of one feed: take its lease, fetch politely, parse, ingest, record, let go.

* **Lease.** ``store.acquire_feed_lease`` lets exactly one worker run a feed at a time; a
  worker that does not get it returns a ``skipped`` run (not recorded: nothing happened).
  The lease is given back in ``finally``; a crashed worker's lease runs out after
  ``feeds.lease_seconds``.
* **Polite fetching.** Through ``ingest.fetch.Fetcher`` (its SSRF rules, redirect
  credential dropping, size cap), with ``If-None-Match``/``If-Modified-Since`` from the last
  good run; httpx asks for and decodes gzip. A 304 records a ``not-modified`` run and ingests
  nothing. A transient failure (time-out, lost connection, 5xx, 429) is tried again
  ``feeds.retries`` times, waiting ``feeds.backoff_s`` and doubling.
* **Ingest.** The document goes through ``feeds.formats.read`` into the ``Ingestor`` with
  source ``feed:<name>`` and the collection ``feeds.collection``.
* **Incremental feeds** (``feeds.incremental``). A MISP feed's ``manifest.json`` is fetched
  conditionally like any document, then only the events whose manifest timestamp is new or
  changed since the last good run are fetched and converted by the MISP importer; the run
  counts the events fetched and skipped. An event that failed is a reject, is not remembered,
  and the manifest's validators are not kept, so the next run fetches it again. A TAXII
  collection is pulled a page at a time after the feed's ``date_added`` cursor, each page
  committed before the cursor moves.
* **Withdrawal** (``feeds.snapshot``). After a good run of a ``full_snapshot`` feed, a value
  missing ``missing_runs`` good runs in a row gets a new version with ``valid_until`` set;
  a 304 or a failed run counts nothing as missing.
* **Record.** Each run is a row with its counts (summed over every ingest of the run: the
  document or each TAXII page, and the withdrawals; they add up as an ingest's do,
  including what was committed before a failure) and error; ``feeds.unhealthy_after``
  failures in a row mark the feed unhealthy, the next success heals it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import httpx
import msgspec

from mburoja.config import Settings
from mburoja.errors import MburojaError
from mburoja.feeds import formats, ratelimit, registry
from mburoja.feeds.catalogue import FeedSpec
from mburoja.feeds.incremental import MispRead, Sleep, Tally, misp_base, pull_taxii, retrying
from mburoja.feeds.snapshot import Seen, withdraw
from mburoja.ingest.fetch import Fetcher
from mburoja.ingest.misp import read_manifest
from mburoja.ingest.pipeline import Ingestor, IngestReport
from mburoja.stix import timestamps
from mburoja.stix.model import RawObject, Reject
from mburoja.store.feeds import FeedRun, FeedState
from mburoja.store.sql import SqlStore


class _Fetch(msgspec.Struct, kw_only=True):
    """What the fetch of a run found: the validators to keep and the bytes read."""

    etag: str | None = None
    last_modified: str | None = None
    bytes: int = 0
    not_modified: bool = False


def run_feed(
    store: SqlStore,
    settings: Settings,
    name: str,
    *,
    holder: str,
    now: str | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Sleep = time.sleep,
) -> FeedRun:
    """Run feed ``name`` once as worker ``holder`` (see the module docstring).

    ``now`` is the ingest time (STIX timestamp) for indicators without one; ``transport``
    replaces the network (tests inject failures with it); ``sleep`` waits between retries.
    Raises ``NotFound`` for an unknown feed; every failure of the run itself is recorded
    and returned as a ``failed`` run (a bug is recorded, then re-raised)."""
    feed = registry.find(store, settings, name)
    started = now or timestamps.now()
    if not store.acquire_feed_lease(name, holder, settings.feeds.lease_seconds):
        other = store.feed_state(name).lease_holder
        return FeedRun(
            feed=name,
            started=started,
            finished=timestamps.now(),
            status="skipped",
            error=f"running elsewhere (lease held by {other})",
        )
    try:
        return _run(store, settings, feed.spec, holder, started, transport, sleep)
    finally:
        store.release_feed_lease(name, holder)


def _run(
    store: SqlStore,
    settings: Settings,
    spec: FeedSpec,
    holder: str,
    now: str,
    transport: httpx.BaseTransport | None,
    sleep: Sleep,
) -> FeedRun:
    clock = time.perf_counter()
    state = store.feed_state(spec.name)
    fetched = _Fetch(etag=state.etag, last_modified=state.last_modified)
    tally = Tally()
    run = FeedRun(feed=spec.name, started=now, finished=now, status="failed")
    failure: BaseException | None = None
    try:
        fetch_settings = msgspec.structs.replace(settings.fetch, timeout_s=settings.feeds.timeout_s)

        # One limit per host for the whole process: every feed, page and event request.
        limiter = ratelimit.shared(settings.feeds.per_host_interval_s)

        def make() -> Fetcher:
            return Fetcher(
                fetch_settings, settings.limits.max_input_bytes, transport, limiter=limiter
            )

        if spec.format == "taxii":
            pull_taxii(
                store,
                settings,
                spec,
                holder=holder,
                fetch=fetch_settings,
                tally=tally,
                sleep=sleep,
                transport=transport,
                limiter=limiter,
            )
            run.status = "ok"
        else:
            _ingest(store, settings, spec, holder, state, fetched, make, now, sleep, tally, run)
    except Exception as exc:  # recorded below; a bug is re-raised after
        run.error = str(exc) or type(exc).__name__
        failure = exc
    _count(run, tally.reports)
    run.bytes = fetched.bytes + tally.bytes
    run.duration_s = time.perf_counter() - clock
    run.finished = timestamps.now()
    recorded = store.record_feed_run(
        run,
        etag=fetched.etag,
        last_modified=fetched.last_modified,
        unhealthy_after=settings.feeds.unhealthy_after,
    )
    if failure is not None and not isinstance(failure, MburojaError):
        raise failure
    return recorded


def _ingest(
    store: SqlStore,
    settings: Settings,
    spec: FeedSpec,
    holder: str,
    state: FeedState,
    fetched: _Fetch,
    make: Callable[[], Fetcher],
    now: str,
    sleep: Sleep,
    tally: Tally,
    run: FeedRun,
) -> None:
    """Fetch one document (a list, or a MISP feed's manifest and its changed events) and
    ingest it; sets ``run``'s status and event counts, and withdraws for full snapshots."""
    url = f"{misp_base(spec.url)}/manifest.json" if spec.format == "misp-feed" else spec.url
    document = _document(url, settings, state, fetched, make, sleep)
    if document is None:
        run.status = "not-modified"
        return
    misp: MispRead | None = None
    items: Iterable[RawObject | Reject]
    if spec.format == "misp-feed":
        misp = MispRead(spec, settings, read_manifest(document), store.feed_events(spec.name), now)
        items = misp.items(make, sleep)
    else:
        items = formats.read(document, spec.name, spec, now, settings.limits)
    seen = Seen() if spec.full_snapshot else None
    if seen is not None:
        items = seen.watch(items)
    try:
        report = Ingestor(store, settings, on_commit=tally.commit).run(
            items, source=f"feed:{spec.name}", actor=holder, collection=settings.feeds.collection
        )
        tally.close(report)
    finally:
        if misp is not None:
            run.events_fetched, run.events_skipped = misp.fetched, misp.skipped
            fetched.bytes += misp.bytes
    if misp is not None:
        store.save_feed_events(spec.name, misp.remembered)
        if len(misp.remembered) < len(misp.manifest):
            # an event failed: without the validators the next run reads the manifest again
            # (a 304 would never retry it) and fetches just the events not remembered
            fetched.etag = fetched.last_modified = None
    if seen is not None:
        run.withdrawn = withdraw(store, settings, spec, seen, now=now, holder=holder, tally=tally)
    run.status = "ok"


def _count(run: FeedRun, reports: list[IngestReport]) -> None:
    """The run's counts: the sums over its ingests; its ingest id is the first one's."""
    if not reports:
        return
    run.ingest_id = reports[0].ingest_id
    run.received = sum(r.received for r in reports)
    run.new = sum(r.new for r in reports)
    run.new_versions = sum(r.new_versions for r in reports)
    run.unchanged = sum(r.unchanged for r in reports)
    run.rejected = sum(r.rejected for r in reports)


def _document(
    url: str,
    settings: Settings,
    state: FeedState,
    fetched: _Fetch,
    make: Callable[[], Fetcher],
    sleep: Sleep,
) -> bytes | None:
    """The document at ``url``, fetched conditionally; None for a 304. Sets ``fetched``."""
    headers: dict[str, str] = {}
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    with make() as fetcher:
        got = retrying(lambda: fetcher.get(url, headers=headers), settings, sleep)
    fetched.bytes = len(got.content)
    if got.status == 304:
        fetched.not_modified = True
        fetched.etag = got.etag or state.etag
        fetched.last_modified = got.last_modified or state.last_modified
        return None
    fetched.etag = got.etag
    fetched.last_modified = got.last_modified
    return got.content
