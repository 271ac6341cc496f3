"""Fetching the watch list: feeds and pages to articles, stored as STIX through the Ingestor.

Every request goes through ``mburoja.ingest.fetch.Fetcher``, so it obeys the same rules as
ingestion: http(s) only, private, loopback and link-local addresses refused unless
``fetch.allow_private``, pinned addresses, redirects checked hop by hop, bodies capped (here
at ``limits.max_object_bytes``: an article must fit in one stored object). On top of that:

* **politeness**: requests to one host are spaced by at least ``interval_s`` (one second by
  default), whatever the source they are for;
* **conditional GET**: a URL fetched before is asked with ``If-None-Match`` and
  ``If-Modified-Since`` from its fetch state; ``304 Not Modified``, or a body whose SHA-256 is
  the one stored last time, is "nothing new" and nothing is extracted or stored;
* feed entries whose article was fetched before are not fetched again (``recheck`` does).

The language of an article is what ``mburoja.disinfo.lang.identify`` says of its text, else
the page's ``lang`` hint, the feed's, or the source's.

A feed is read with ``feedparser`` and each entry's link fetched and extracted
(``disinfo.extract``); a page is one article. Each source's articles are stored in one ingest
run (``source`` = ``disinfo:<name>``) into the collection ``disinfo``, as the objects
``disinfo.objects`` makes, marked with the source's TLP. The fetch state of each URL is saved
only after that run is committed, so a failed ingest is fetched again next time.

The counts add up: every URL asked is exactly one of ``feeds_read``, ``articles``,
``not_modified``, ``empty`` (no main text), ``failed`` or ``refused``.
"""

from __future__ import annotations

import calendar
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import msgspec
import orjson

from mburoja.config import Settings
from mburoja.disinfo.extract import Extracted, extract_html, normalise_lang
from mburoja.disinfo.lang import identify
from mburoja.disinfo.model import ARTICLE, Document
from mburoja.disinfo.objects import (
    article_id,
    article_objects,
    canonical_url,
    content_sha256,
    definition_objects,
    outlet_of,
)
from mburoja.errors import ConfigError, FetchError, FetchRefused, InputTooLarge
from mburoja.ingest.fetch import Fetched, Fetcher
from mburoja.ingest.pipeline import Ingestor, IngestReport
from mburoja.stix.markings import TLP2
from mburoja.stix.model import RawObject, Reject
from mburoja.store.base import IngestCounts
from mburoja.store.disinfo import FetchState, WatchedSource
from mburoja.store.sql import SqlStore

#: The collection fetched articles and imported posts go into.
COLLECTION: Final = "disinfo"
#: Seconds between two requests to the same host, at least.
DEFAULT_INTERVAL_S: Final = 1.0
#: Entries read from one feed per fetch, at most (newest first, as feeds list them).
DEFAULT_MAX_ENTRIES: Final = 100
_ERROR_SAMPLES: Final = 50
_FEED_TYPES: Final = ("xml", "rss", "atom")

LangDetector = Callable[[str], str | None]


class HostPacer:
    """Spaces requests to one host by ``interval_s`` seconds (sleeping when needed)."""

    def __init__(
        self,
        interval_s: float = DEFAULT_INTERVAL_S,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._sleep = sleep
        self._next: dict[str, float] = {}

    def wait(self, url: str) -> float:
        """Wait for ``url``'s host's next turn; returns the seconds waited."""
        host = outlet_of(url) or url
        now = self._clock()
        due = self._next.get(host, now)
        waited = max(due - now, 0.0)
        if waited:
            self._sleep(waited)
        self._next[host] = max(now, due) + self.interval_s
        return waited


class SourceOutcome(msgspec.Struct, kw_only=True):
    """What fetching one watched source did."""

    name: str
    kind: str
    feeds_read: int = 0
    articles: int = 0
    not_modified: int = 0
    empty: int = 0
    failed: int = 0
    refused: int = 0
    #: feed entries already fetched before, skipped
    known: int = 0
    errors: list[str] = msgspec.field(default_factory=list)
    elapsed_s: float = 0.0
    ingest_id: int | None = None

    @property
    def urls(self) -> int:
        """URLs asked: each is exactly one of the outcomes above (``known`` are not asked)."""
        return (
            self.feeds_read
            + self.articles
            + self.not_modified
            + self.empty
            + self.failed
            + self.refused
        )


class FetchReport(IngestCounts, kw_only=True):
    """A whole fetch: per source outcomes, and the ingest counts summed over their runs."""

    sources: list[SourceOutcome] = msgspec.field(default_factory=list)
    rejects: list[Reject] = msgspec.field(default_factory=list)
    elapsed_s: float = 0.0

    def total(self, field: str) -> int:
        return sum(int(getattr(s, field)) for s in self.sources)

    @property
    def urls(self) -> int:
        return sum(s.urls for s in self.sources)

    def add(self, report: IngestReport) -> None:
        for name in IngestCounts.__struct_fields__:
            setattr(self, name, getattr(self, name) + getattr(report, name))
        self.rejects.extend(report.rejects[: max(_ERROR_SAMPLES - len(self.rejects), 0)])


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def raw_items(objects: Iterable[dict[str, Any]], origin: str) -> list[RawObject]:
    """STIX objects as the ingest pipeline takes them (keys sorted: stable bytes, so the
    same content is "unchanged" on every fetch)."""
    return [
        RawObject(orjson.dumps(o, option=orjson.OPT_SORT_KEYS), origin, i)
        for i, o in enumerate(objects)
    ]


def install_definitions(store: SqlStore, settings: Settings, collection: str) -> None:
    """Store the extension-definition objects (and their identity) unless they are there."""
    wanted = definition_objects()
    if len(store.current_many([o["id"] for o in wanted])) == len(wanted):
        return
    Ingestor(store, settings, workers=0).run(
        raw_items(wanted, "mburoja:disinfo"),
        source="mburoja:disinfo",
        actor="mburoja",
        collection=collection,
    )


class _Run:
    """One source's fetch: the requests, the documents found and the states to save."""

    def __init__(
        self,
        source: WatchedSource,
        fetcher: Fetcher,
        pacer: HostPacer,
        states: dict[str, FetchState],
        detect_lang: LangDetector | None,
        lookup: Callable[[Sequence[str]], dict[str, FetchState]],
    ) -> None:
        self.source = source
        self.lookup = lookup
        self.fetcher = fetcher
        self.pacer = pacer
        self.states = states
        self.detect_lang = detect_lang
        self.outcome = SourceOutcome(name=source.name, kind=source.kind)
        self.documents: list[Document] = []
        self.new_states: list[FetchState] = []
        #: whether the last ``get`` found nothing new
        self.unchanged = False

    def _error(self, message: str) -> None:
        if len(self.outcome.errors) < _ERROR_SAMPLES:
            self.outcome.errors.append(message)

    def get(self, url: str) -> Fetched | None:
        """GET ``url`` politely and conditionally; None when it failed, was refused, or
        had nothing new (each counted and its state noted)."""
        state = self.states.get(url)
        self.unchanged = False
        headers: dict[str, str] = {}
        if state is not None and state.status in (200, 304):
            if state.etag:
                headers["If-None-Match"] = state.etag
            if state.last_modified:
                headers["If-Modified-Since"] = state.last_modified
        self.pacer.wait(url)
        try:
            got = self.fetcher.get(url, headers=headers)
        except FetchRefused as exc:
            self.outcome.refused += 1
            self._note(url, state, None, error=str(exc))
            self._error(str(exc))
            return None
        except (FetchError, InputTooLarge) as exc:
            self.outcome.failed += 1
            self._note(url, state, getattr(exc, "status", None), error=str(exc))
            self._error(str(exc))
            return None
        sha = content_sha256(got.content) if got.status != 304 else None
        if got.status == 304 or (state is not None and sha == state.content_sha256):
            self.outcome.not_modified += 1
            self.unchanged = True
            self._note(url, state, got.status, got=got)
            return None
        return got

    def _note(
        self,
        url: str,
        state: FetchState | None,
        status: int | None,
        *,
        got: Fetched | None = None,
        error: str | None = None,
        sha: str | None = None,
    ) -> None:
        now = _now()
        self.new_states.append(
            FetchState(
                url=url,
                source_id=self.source.id,
                etag=(got.etag if got and got.etag else state.etag if state else None),
                last_modified=(
                    got.last_modified
                    if got and got.last_modified
                    else state.last_modified
                    if state
                    else None
                ),
                status=status,
                error=error,
                content_sha256=sha or (state.content_sha256 if state else None),
                checked=now,
                changed=now if sha else (state.changed if state else None),
            )
        )

    def article(self, url: str, hints: dict[str, Any] | None = None) -> None:
        """Fetch, extract and keep the article at ``url``; ``hints`` come from its feed."""
        got = self.get(url)
        if got is None:
            return
        sha = content_sha256(got.content)
        state = self.states.get(url)
        found = extract_html(
            got.content, got.url, content_language=got.headers.get("content-language")
        )
        if not found.text:
            self.outcome.empty += 1
            self._note(url, state, got.status, got=got, error="no main text found", sha=sha)
            self._error(f"{url}: no main text found")
            return
        self.outcome.articles += 1
        self._note(url, state, got.status, got=got, sha=sha)
        self.documents.append(self._document(got.url, found, sha, hints or {}))

    def _document(
        self, final_url: str, found: Extracted, sha: str, hints: dict[str, Any]
    ) -> Document:
        url = canonical_url(final_url)
        links = dict.fromkeys(canonical_url(link) for link in found.links)
        links.pop(url, None)
        detected = self.detect_lang(found.text) if self.detect_lang else None
        hint = found.lang or normalise_lang(hints.get("lang"), found.text) or self.source.lang
        return Document(
            id=article_id(url),
            kind=ARTICLE,
            source=outlet_of(url),
            source_name=self.source.name,
            url=url,
            title=found.title or hints.get("title") or "",
            text=found.text,
            published=found.published if found.published is not None else hints.get("published"),
            lang=detected or hint,
            author=found.author or hints.get("author"),
            urls=tuple(links),
            content_hash=sha,
        )

    def feed(self, url: str, max_entries: int, recheck: bool) -> None:
        import feedparser  # loaded on first use only

        got = self.get(url)
        if got is None:
            if self.unchanged:
                self._retry(url)
            return
        parsed = feedparser.parse(got.content, sanitize_html=False, resolve_relative_uris=False)
        entries = list(parsed.entries)
        if not entries and parsed.get("bozo"):
            self.outcome.failed += 1
            reason = f"{url}: not an RSS or Atom feed: {parsed.get('bozo_exception')}"
            self._note(url, self.states.get(url), got.status, got=got, error=reason)
            self._error(reason)
            return
        self.outcome.feeds_read += 1
        self._note(url, self.states.get(url), got.status, got=got, sha=content_sha256(got.content))
        lang = parsed.feed.get("language")
        links: dict[str, dict[str, Any]] = {}
        for entry in entries[:max_entries]:
            link = entry.get("link")
            if not isinstance(link, str) or not link.strip():
                continue
            link = urllib.parse.urljoin(got.url, link.strip())  # a relative link is the feed's
            if not link.startswith(("http://", "https://")):
                continue
            links.setdefault(canonical_url(link), _entry_hints(entry, lang))
        done = self._known(links) if not recheck else set()
        for link, hints in links.items():
            if link in done:
                self.outcome.known += 1
            else:
                self.article(link, hints)

    def _retry(self, feed_url: str) -> None:
        """Fetch again the articles of this feed whose last fetch failed in a way that may
        pass (no answer, 5xx, 408, 425, 429), even though the feed itself has not changed."""
        for url, state in list(self.states.items()):
            if url != feed_url and state.source_id == self.source.id and _may_pass(state):
                self.article(url)

    def _known(self, links: dict[str, dict[str, Any]]) -> set[str]:
        """The links fetched before, for this source or another one."""
        self.states.update(self.lookup([u for u in links if u not in self.states]))
        return {u for u, s in self.states.items() if u in links and s.status in (200, 304)}


def _may_pass(state: FetchState) -> bool:
    if state.error is None:
        return False
    return state.status is None or state.status >= 500 or state.status in (408, 425, 429)


def _entry_hints(entry: Any, lang: Any) -> dict[str, Any]:
    """What a feed entry says of its article, used where the page does not say it."""
    stamp = entry.get("published_parsed") or entry.get("updated_parsed")
    return {
        "title": entry.get("title") or None,
        "author": entry.get("author") or None,
        "published": float(calendar.timegm(stamp)) if stamp else None,
        "lang": lang if isinstance(lang, str) else None,
    }


def fetch_sources(
    store: SqlStore,
    settings: Settings,
    names: Sequence[str] = (),
    *,
    detect_lang: LangDetector | None = identify,
    pacer: HostPacer | None = None,
    fetcher_factory: Callable[[], Fetcher] | None = None,
    collection: str = COLLECTION,
    actor: str = "cli",
    max_entries: int = DEFAULT_MAX_ENTRIES,
    recheck: bool = False,
    progress: Callable[[SourceOutcome], None] | None = None,
) -> FetchReport:
    """Fetch the watched feeds and pages named (all enabled ones when none are) and store
    what is new. ``detect_lang`` names each article's language (``mburoja.disinfo.lang``'s
    identifier by default); where it gives None, or is None, the page's, the feed's or the
    source's hint is kept."""
    started = time.perf_counter()
    if names:
        chosen = [store.get_disinfo_source(n) for n in names]
        for source in chosen:
            if source.kind == "account":
                raise ConfigError(
                    f"{source.name!r} is an account: its posts come in with "
                    "`mburoja disinfo import-posts`, not by fetching"
                )
    else:
        chosen = [s for s in store.disinfo_sources(enabled_only=True) if s.kind != "account"]
    report = FetchReport()
    pacer = pacer or HostPacer()
    make = fetcher_factory or (lambda: Fetcher(settings.fetch, settings.limits.max_object_bytes))
    if chosen:
        install_definitions(store, settings, collection)
    with make() as fetcher:
        for source in chosen:
            outcome = _fetch_one(
                store, settings, source, fetcher, pacer, detect_lang,
                collection=collection, actor=actor, max_entries=max_entries, recheck=recheck,
                report=report,
            )  # fmt: skip
            report.sources.append(outcome)
            if progress is not None:
                progress(outcome)
    report.elapsed_s = time.perf_counter() - started
    return report


def _fetch_one(
    store: SqlStore,
    settings: Settings,
    source: WatchedSource,
    fetcher: Fetcher,
    pacer: HostPacer,
    detect_lang: LangDetector | None,
    *,
    collection: str,
    actor: str,
    max_entries: int,
    recheck: bool,
    report: FetchReport,
) -> SourceOutcome:
    started = time.perf_counter()
    states = {s.url: s for s in store.source_fetch_states(source.id)}
    run = _Run(source, fetcher, pacer, states, detect_lang, store.fetch_states)
    if source.kind == "feed":
        run.feed(source.location, max_entries, recheck)
    else:
        run.article(source.location)
    if run.documents:
        markings = [TLP2[source.tlp]]
        objects = [o for doc in run.documents for o in article_objects(doc, markings=markings)]
        ingest = Ingestor(store, settings, workers=0).run(
            raw_items(objects, f"disinfo:{source.name}"),
            source=f"disinfo:{source.name}",
            actor=actor,
            collection=collection,
        )
        run.outcome.ingest_id = ingest.ingest_id
        report.add(ingest)
    store.save_fetch_states(run.new_states)
    run.outcome.elapsed_s = time.perf_counter() - started
    return run.outcome
