"""Feeds read in several requests, each run taking only what is new: MISP feeds and TAXII.

* **MISP feed.** ``manifest.json`` is fetched (conditionally, by the runner) and compared with
  the manifest remembered from the last good run (``store.feed_events``): only the events
  whose ``timestamp`` is new or changed are fetched, the others are counted as skipped. An
  event that cannot be fetched or read is one ``Reject`` naming it, the others still land,
  and its timestamp is not remembered, so the next run fetches it again.
* **TAXII 2.1 collection.** The feed's URL is the collection's
  (``<api root>collections/<id>/``); the pull goes through ``taxii.client.TaxiiClient`` (so
  through the ``Fetcher`` and its SSRF rules) and asks for what was added after the feed's
  cursor, the ``X-TAXII-Date-Added-Last`` of the last committed page. Each page is its own
  ingest, committed before the cursor moves; a run cut between pages leaves the cursor
  marked ``cut``, and the next run asks from a microsecond before it (objects added in one
  request share a ``date_added`` and may straddle the cut: they come again as unchanged,
  nothing is skipped). Credentials come from the environment variable the spec names in
  ``options.auth_env``, never from the catalogue.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import TypeVar

import httpx
import msgspec

from mburoja.config import FetchSettings, Settings
from mburoja.errors import (
    ConfigError,
    FetchError,
    FetchRefused,
    FetchTransient,
    InputFormatError,
    InputTooLarge,
)
from mburoja.feeds.catalogue import FeedSpec, taxii_collection
from mburoja.ingest.fetch import Fetched, Fetcher, RateLimiter
from mburoja.ingest.ioc_list import IocOptions
from mburoja.ingest.misp import ManifestEntry
from mburoja.ingest.pipeline import Ingestor, IngestReport
from mburoja.ingest.sources import Input, convert
from mburoja.stix import timestamps
from mburoja.stix.model import RawObject, Reject
from mburoja.store.feeds import FeedCursor
from mburoja.store.sql import SqlStore
from mburoja.taxii.client import Page, TaxiiClient

#: The longest single wait between retries, whatever the settings say.
MAX_BACKOFF_S = 60.0

Sleep = Callable[[float], None]
Item = RawObject | Reject
T = TypeVar("T")


def retrying(call: Callable[[], T], settings: Settings, sleep: Sleep) -> T:
    """``call()``, tried again after transient failures with a doubling, bounded wait."""
    tries = max(settings.feeds.retries, 0) + 1
    wait = settings.feeds.backoff_s
    for attempt in range(1, tries + 1):
        try:
            return call()
        except FetchTransient as exc:
            if attempt == tries:
                final = FetchTransient(f"{exc} (gave up after {tries} tries)")
                final.status = exc.status
                raise final from exc
            sleep(min(wait, MAX_BACKOFF_S))
            wait *= 2
    raise AssertionError("unreachable")  # pragma: no cover


class Tally(msgspec.Struct, kw_only=True):
    """The counts of every ingest of one run (pages, the feed, withdrawals), including what
    the one under way had committed when it stopped."""

    done: list[IngestReport] = msgspec.field(default_factory=list)
    partial: IngestReport | None = None
    bytes: int = 0

    def commit(self, report: IngestReport) -> None:
        """``Ingestor(on_commit=...)``: the running ingest's counts so far."""
        self.partial = report

    def close(self, report: IngestReport) -> None:
        """One ingest finished with ``report``."""
        self.done.append(report)
        self.partial = None

    @property
    def reports(self) -> list[IngestReport]:
        return [*self.done, *([self.partial] if self.partial is not None else [])]


# -- MISP feeds ------------------------------------------------------------------------------


def misp_base(url: str) -> str:
    """The directory URL of a MISP feed given as its directory or its ``manifest.json``."""
    base = url.rstrip("/")
    if base.endswith("manifest.json"):
        base = base[: -len("manifest.json")].rstrip("/")
    return base


class MispRead:
    """One incremental read of a MISP feed (see the module docstring)."""

    def __init__(
        self,
        spec: FeedSpec,
        settings: Settings,
        manifest: dict[str, ManifestEntry],
        previous: dict[str, int],
        now: str,
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.manifest = manifest
        self.previous = previous
        self.now = now
        self.fetched = 0
        self.skipped = 0
        self.bytes = 0
        #: event uuid -> timestamp of the events read (or skipped as unchanged) this run
        self.remembered: dict[str, int] = {}

    def items(self, make: Callable[[], Fetcher], sleep: Sleep) -> Iterator[Item]:
        """The objects of the new or changed events, a reject for each that failed."""
        spec = self.spec
        base = misp_base(spec.url)
        ioc = IocOptions(
            source=spec.name, tlp=spec.tlp, confidence=spec.confidence, labels=spec.labels
        )
        with make() as fetcher:
            for index, (uuid, entry) in enumerate(self.manifest.items()):
                if self.previous.get(uuid) == entry.timestamp:
                    self.skipped += 1
                    self.remembered[uuid] = entry.timestamp
                    continue
                self.fetched += 1
                url = f"{base}/{uuid}.json"
                try:
                    got = _get(fetcher, url, self.settings, sleep)
                    self.bytes += len(got.content)
                    objects = list(
                        convert(Input(got.url, got.content), "misp", self.settings, ioc, self.now)
                    )
                except FetchRefused:
                    raise
                except (FetchError, InputFormatError, InputTooLarge) as exc:
                    # One bad event must not stop the feed; it is tried again next run.
                    reason = f"event {uuid} ({entry.info or 'no info'}) not read: {exc}"
                    yield Reject(
                        url, index, f"grouping--{uuid}", f"manifest.json[{uuid}]", reason, b""
                    )
                    continue
                yield from objects
                self.remembered[uuid] = entry.timestamp


def _get(fetcher: Fetcher, url: str, settings: Settings, sleep: Sleep) -> Fetched:
    return retrying(lambda: fetcher.get(url), settings, sleep)


# -- TAXII collections -----------------------------------------------------------------------


def credentials(spec: FeedSpec) -> tuple[tuple[str, str] | None, str | None]:
    """(basic auth, bearer token) for ``spec`` from the environment variable it names.

    Raises ``ConfigError`` saying which variable to set when it is unset or malformed."""
    opts = spec.options
    if opts.auth == "none" or opts.auth_env is None:
        return None, None
    secret = os.environ.get(opts.auth_env, "")
    what = "a bearer token" if opts.auth == "bearer" else "user:password"
    if not secret:
        raise ConfigError(
            f"feed {spec.name!r}: the environment variable {opts.auth_env} (options.auth_env) "
            f"is not set; set it to {what} for {spec.url}"
        )
    if opts.auth == "bearer":
        return None, secret
    user, sep, password = secret.partition(":")
    if not sep or not user:
        raise ConfigError(
            f"feed {spec.name!r}: the environment variable {opts.auth_env} must hold "
            "user:password for HTTP Basic (options.auth = 'basic')"
        )
    return (user, password), None


def start_after(cursor: FeedCursor) -> str | None:
    """The ``added_after`` a run starts with: the cursor, or a microsecond before it when the
    run that saved it was cut between pages (see the module docstring)."""
    if not cursor.cut or not cursor.date_added_last:
        return cursor.date_added_last
    try:
        moment = timestamps.parse(cursor.date_added_last) - timedelta(microseconds=1)
    except ValueError:
        return cursor.date_added_last
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def pull_taxii(
    store: SqlStore,
    settings: Settings,
    spec: FeedSpec,
    *,
    holder: str,
    fetch: FetchSettings,
    tally: Tally,
    sleep: Sleep,
    transport: httpx.BaseTransport | None = None,
    limiter: RateLimiter | None = None,
) -> int:
    """Pull what the feed's collection added since its cursor; returns the pages read.

    Each page is ingested (source ``feed:<name>``) and committed before the cursor is saved,
    so a failure on a later page keeps what came before it and the next run goes on from it.
    """
    located = taxii_collection(spec.url)
    if located is None:  # the catalogue refuses it; a registry row may predate the rule
        raise ConfigError(
            f"feed {spec.name!r}: {spec.url!r} is not a TAXII collection URL; give "
            "<api root>collections/<collection id>/"
        )
    api_root, collection_id = located
    auth, token = credentials(spec)
    cursor = store.feed_cursor(spec.name)
    added_after = start_after(cursor)
    limit = spec.options.page_limit
    source = f"feed:{spec.name}"
    pages = 0
    with TaxiiClient(
        fetch,
        settings.limits.max_input_bytes,
        auth=auth,
        token=token,
        transport=transport,
        limiter=limiter,
    ) as client:

        def ask(next_page: str | None) -> Page:
            return retrying(
                lambda: client.objects(
                    api_root,
                    collection_id,
                    limit=limit,
                    added_after=added_after,
                    next_page=next_page,
                ),
                settings,
                sleep,
            )

        asked: str | None = None
        page = ask(asked)
        while True:
            pages += 1
            tally.bytes += len(page.envelope)
            if page.objects:
                origin = f"{page.url} page {pages}"
                items = (RawObject(bytes(raw), origin, i) for i, raw in enumerate(page.objects))
                report = Ingestor(store, settings, on_commit=tally.commit).run(
                    items, source=source, actor=holder, collection=settings.feeds.collection
                )
                tally.close(report)
            cursor = FeedCursor(
                date_added_last=page.date_added_last or cursor.date_added_last, cut=page.more
            )
            store.save_feed_cursor(spec.name, cursor, timestamps.now())
            if not page.more:
                return pages
            if page.next and (page.objects or page.next != asked):
                asked = page.next
                page = ask(asked)
            elif page.date_added_last and page.date_added_last != added_after:
                added_after, asked = page.date_added_last, None
                page = ask(asked)
            else:
                raise InputFormatError(
                    f"{page.url}: the server says there is more but gives neither 'next' nor a "
                    "newer X-TAXII-Date-Added-Last header; the objects so far are stored. "
                    "Report this to the server's operator"
                )
