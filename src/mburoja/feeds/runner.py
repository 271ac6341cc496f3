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
  source ``feed:<name>`` and the collection ``feeds.collection``. A MISP feed goes to the
  existing MISP feed importer instead; TAXII collections are not pulled by feeds yet.
* **Record.** Each run is a row with its counts (they add up as an ingest's do, including
  what was committed before a failure) and error; ``feeds.unhealthy_after`` failures in a
  row mark the feed unhealthy, the next success heals it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import httpx
import msgspec

from mburoja.config import Settings
from mburoja.errors import ConfigError, FetchTransient, MburojaError
from mburoja.feeds import formats, registry
from mburoja.feeds.catalogue import FeedSpec
from mburoja.ingest.fetch import Fetched, Fetcher
from mburoja.ingest.ioc_list import IocOptions
from mburoja.ingest.pipeline import Ingestor, IngestReport
from mburoja.ingest.sources import items_for
from mburoja.stix import timestamps
from mburoja.stix.model import RawObject, Reject
from mburoja.store.feeds import FeedRun, FeedState
from mburoja.store.sql import SqlStore

#: The longest single wait between retries, whatever the settings say.
MAX_BACKOFF_S = 60.0

Sleep = Callable[[float], None]


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
    latest: list[IngestReport] = []
    run = FeedRun(feed=spec.name, started=now, finished=now, status="failed")
    failure: BaseException | None = None
    try:
        fetch_settings = msgspec.structs.replace(settings.fetch, timeout_s=settings.feeds.timeout_s)

        def make() -> Fetcher:
            return Fetcher(fetch_settings, settings.limits.max_input_bytes, transport)

        items = _items(spec, settings, state, fetched, make, now, sleep)
        if fetched.not_modified:
            run.status = "not-modified"
        else:
            ingestor = Ingestor(store, settings, on_commit=latest.append)
            report = ingestor.run(
                items,
                source=f"feed:{spec.name}",
                actor=holder,
                collection=settings.feeds.collection,
            )
            latest.append(report)
            run.status = "ok"
    except Exception as exc:  # recorded below; a bug is re-raised after
        run.error = str(exc) or type(exc).__name__
        failure = exc
    if latest:
        _count(run, latest[-1])
    run.bytes = fetched.bytes
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


def _count(run: FeedRun, report: IngestReport) -> None:
    run.ingest_id = report.ingest_id
    run.received = report.received
    run.new = report.new
    run.new_versions = report.new_versions
    run.unchanged = report.unchanged
    run.rejected = report.rejected


def _items(
    spec: FeedSpec,
    settings: Settings,
    state: FeedState,
    fetched: _Fetch,
    make: Callable[[], Fetcher],
    now: str,
    sleep: Sleep,
) -> Iterable[RawObject | Reject]:
    """The items of the feed's current content; sets ``fetched`` (a 304 gives none)."""
    if spec.format == "misp-feed":
        ioc = IocOptions(
            source=spec.name, tlp=spec.tlp, confidence=spec.confidence, labels=spec.labels
        )
        return items_for(
            spec.url, settings, fmt="misp-feed", ioc=ioc, now=now, fetcher_factory=make
        )
    if spec.format in formats.ROUTED:
        raise ConfigError(
            f"feed {spec.name!r}: format {spec.format!r} is not supported by feed runs yet; "
            "pull the collection with `mburoja taxii` or a federation peer instead"
        )
    headers: dict[str, str] = {}
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    with make() as fetcher:
        got = _get(fetcher, spec.url, headers, settings, sleep)
    fetched.bytes = len(got.content)
    if got.status == 304:
        fetched.not_modified = True
        fetched.etag = got.etag or state.etag
        fetched.last_modified = got.last_modified or state.last_modified
        return ()
    fetched.etag = got.etag
    fetched.last_modified = got.last_modified
    return formats.read(got.content, spec.name, spec, now, settings.limits)


def _get(
    fetcher: Fetcher, url: str, headers: dict[str, str], settings: Settings, sleep: Sleep
) -> Fetched:
    """GET ``url``, trying again after transient failures with a doubling, bounded wait."""
    tries = max(settings.feeds.retries, 0) + 1
    wait = settings.feeds.backoff_s
    for attempt in range(1, tries + 1):
        try:
            return fetcher.get(url, headers=headers)
        except FetchTransient as exc:
            if attempt == tries:
                final = FetchTransient(f"{exc} (gave up after {tries} tries)")
                final.status = exc.status
                raise final from exc
            sleep(min(wait, MAX_BACKOFF_S))
            wait *= 2
    raise AssertionError("unreachable")  # pragma: no cover
