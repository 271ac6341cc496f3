"""Fetching the watch list from a real HTTP server on 127.0.0.1: feeds and pages become stored
articles; conditional GET, SSRF refusal, politeness and failures behave as documented."""

# ruff: noqa: RUF001 (Macedonian text is meant)

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import msgspec
import orjson
import pytest

from mburoja.config import Settings
from mburoja.disinfo.fetch import COLLECTION, HostPacer, fetch_sources
from mburoja.disinfo.model import Document
from mburoja.disinfo.objects import article_id, document_of
from mburoja.disinfo.sources import add_source
from mburoja.errors import ConfigError, StoreUnavailable
from mburoja.ingest.pipeline import Ingestor
from mburoja.store.sql import SqlStore

NOW = 1_733_306_400  # 2024-12-04T10:00:00Z


@dataclass
class Page:
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = None
    status: int = 200


@dataclass
class Hit:
    at: float
    path: str
    headers: dict[str, str]


@dataclass
class Site:
    """A small web site served on 127.0.0.1: pages by path, ETag and Last-Modified answered
    with 304 when they match, and a log of every request."""

    port: int = 0
    pages: dict[str, Page] = field(default_factory=dict)
    log: list[Hit] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def hits(self, path: str) -> list[Hit]:
        return [h for h in self.log if h.path == path]


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            site.log.append(Hit(time.monotonic(), self.path, headers))
            page = site.pages.get(self.path)
            if page is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            fresh = (page.etag is not None and headers.get("if-none-match") == page.etag) or (
                page.etag is None
                and page.last_modified is not None
                and headers.get("if-modified-since") == page.last_modified
            )
            self.send_response(304 if fresh else page.status)
            if page.etag:
                self.send_header("ETag", page.etag)
            if page.last_modified:
                self.send_header("Last-Modified", page.last_modified)
            if fresh:
                self.end_headers()
                return
            self.send_header("Content-Type", page.content_type)
            self.send_header("Content-Length", str(len(page.body)))
            self.end_headers()
            self.wfile.write(page.body)

        def log_message(self, format: str, *args: object) -> None:
            return None

    return Handler


@pytest.fixture
def site() -> Iterator[Site]:
    served = Site()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(served))
    served.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def private_ok(settings: Settings) -> Settings:
    """Settings that let fetches reach the test server on 127.0.0.1."""
    return msgspec.structs.replace(
        settings, fetch=msgspec.structs.replace(settings.fetch, allow_private=True)
    )


def article_html(i: int, *, lang: str = "en", dated: bool = True) -> bytes:
    date = '<meta property="article:published_time" content="2024-12-04T09:00:00Z">'
    paragraphs = "".join(
        f"<p>Paragraph {j} of story {i}: the ministers of the region met again to discuss "
        f"security, cooperation against hybrid threats and the next steps of story {i}.</p>"
        for j in range(4)
    )
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><title>Story {i} | Herald</title>'
        f'<meta name="author" content="Reporter {i}">{date if dated else ""}</head><body>'
        f'<nav><a href="/">Home</a> <a href="/contact">Contact</a></nav>'
        f"<article><h1>Story {i}</h1>{paragraphs}"
        f'<p>Source: <a href="https://gov.example/statement/{i}?utm_source=rss">the '
        f"statement</a> published by the government this morning.</p></article>"
        f"<footer>© Herald. All rights reserved.</footer></body></html>"
    ).encode()


def rss(site: Site, paths: list[str]) -> bytes:
    items = "".join(
        f"<item><title>Feed title {p}</title><link>{site.url(p)}?utm_source=rss</link>"
        f"<pubDate>Wed, 04 Dec 2024 08:00:00 GMT</pubDate><author>desk@herald.example</author>"
        f"</item>"
        for p in paths
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Herald</title><link>{site.url('/')}</link><language>sr</language>"
        f"{items}</channel></rss>"
    ).encode()


def atom(site: Site, paths: list[str]) -> bytes:
    entries = "".join(
        f'<entry><title>Atom {p}</title><link href="{site.url(p)}"/><id>{p}</id>'
        f"<updated>2024-12-03T08:00:00Z</updated></entry>"
        for p in paths
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>Atom outlet</title><id>urn:x</id><updated>2024-12-03T08:00:00Z</updated>"
        f"{entries}</feed>"
    ).encode()


def serve_feed(site: Site, paths: list[str], *, etag: str = '"v1"') -> None:
    site.pages["/rss.xml"] = Page(
        rss(site, paths),
        "application/rss+xml",
        etag=etag,
        last_modified=formatdate(NOW, usegmt=True),
    )
    for i, path in enumerate(paths):
        site.pages.setdefault(path, Page(article_html(i, dated=i != 1), etag=f'"a{i}"'))


def stored_article(store: SqlStore, url: str) -> Document:
    version = store.current(article_id(url))
    assert version is not None, f"no article stored for {url}"
    return document_of(orjson.loads(version.raw))


def test_feeds_are_read_and_their_articles_stored_as_stix(
    store: SqlStore, settings: Settings, site: Site
) -> None:
    paths = ["/news/1", "/news/2", "/news/3"]
    serve_feed(site, paths)
    site.pages["/atom.xml"] = Page(atom(site, ["/world/9"]), "application/atom+xml")
    site.pages["/world/9"] = Page(article_html(9, lang="sq"))
    add_source(store, "feed", site.url("/rss.xml"), name="Herald")
    add_source(store, "feed", site.url("/atom.xml"), name="Atom outlet")

    report = fetch_sources(store, private_ok(settings), pacer=HostPacer(0))

    by_name = {s.name: s for s in report.sources}
    assert (by_name["Herald"].feeds_read, by_name["Herald"].articles) == (1, 3)
    assert (by_name["Atom outlet"].feeds_read, by_name["Atom outlet"].articles) == (1, 1)
    assert report.total("failed") == report.total("refused") == 0
    assert report.urls == 6 and report.adds_up and report.rejected == 0
    first = stored_article(store, site.url("/news/1"))
    assert first.url == site.url("/news/1")  # canonical: the feed's utm_source is gone
    assert first.source == "127.0.0.1" and first.source_name == "Herald"
    assert first.title == "Story 0" and first.author == "Reporter 0"
    assert first.published == NOW - 3600  # the page's own date
    assert first.text.startswith("Paragraph 0 of story 0")
    assert "Home" not in first.text and "All rights reserved" not in first.text
    assert first.urls == ("https://gov.example/statement/0",)
    assert first.content_hash == hashlib.sha256(site.pages["/news/1"].body).hexdigest()
    assert first.lang == "en"  # identified, and the feed's <language>sr</language> is wrong
    undated = stored_article(store, site.url("/news/2"))
    assert undated.published == NOW - 7200  # the feed's pubDate stands in
    # the page says lang="sq", but its text is English: the language identifier decides
    assert stored_article(store, site.url("/world/9")).lang == "en"
    disinfo = next(c for c in store.collections() if c.alias == COLLECTION)
    assert disinfo.objects >= 4 + 3  # articles, their url SCOs and the definitions
    run = store.get_ingest(by_name["Herald"].ingest_id or 0)
    # each article, its url SCO and the url SCO of the one link it carries
    assert run.source == "disinfo:Herald" and run.new == 3 * 3 and report.new == 4 * 3


def test_a_second_fetch_is_conditional_and_a_304_stores_nothing(
    store: SqlStore, settings: Settings, site: Site
) -> None:
    serve_feed(site, ["/news/1", "/news/2"])
    add_source(store, "feed", site.url("/rss.xml"), name="Herald")
    settings = private_ok(settings)
    fetch_sources(store, settings, pacer=HostPacer(0))
    versions = store.stats().versions
    site.log.clear()

    report = fetch_sources(store, settings, pacer=HostPacer(0))

    (asked,) = site.log
    assert asked.path == "/rss.xml"
    assert asked.headers["if-none-match"] == '"v1"'
    assert asked.headers["if-modified-since"] == formatdate(NOW, usegmt=True)
    (outcome,) = report.sources
    assert outcome.not_modified == 1 and outcome.articles == 0 and outcome.urls == 1
    assert report.received == 0 and store.stats().versions == versions

    # the feed changes: only the new entry's article is fetched, the others are known
    serve_feed(site, ["/news/1", "/news/2", "/news/3"], etag='"v2"')
    site.log.clear()
    report = fetch_sources(store, settings, pacer=HostPacer(0))
    assert [h.path for h in site.log] == ["/rss.xml", "/news/3"]
    (outcome,) = report.sources
    assert (outcome.feeds_read, outcome.articles, outcome.known) == (1, 1, 2)


def test_a_page_that_did_not_change_is_not_stored_again_and_an_edit_is_a_new_version(
    store: SqlStore, settings: Settings, site: Site
) -> None:
    site.pages["/story"] = Page(article_html(5))  # no validators: always 200
    add_source(store, "page", site.url("/story"), name="Story page")
    settings = private_ok(settings)
    first = fetch_sources(store, settings, pacer=HostPacer(0))
    assert first.sources[0].articles == 1

    again = fetch_sources(store, settings, pacer=HostPacer(0))
    assert again.sources[0].not_modified == 1 and again.received == 0

    site.pages["/story"] = Page(article_html(5).replace(b"next steps", b"final steps"))
    edited = fetch_sources(store, settings, pacer=HostPacer(0))
    assert edited.sources[0].articles == 1 and edited.new_versions == 1
    versions = store.versions(article_id(site.url("/story")))
    assert [v.is_current for v in versions] == [False, True]
    assert "final steps" in stored_article(store, site.url("/story")).text


def test_private_addresses_are_refused_unless_allowed(
    store: SqlStore, settings: Settings, site: Site
) -> None:
    serve_feed(site, ["/news/1"])
    add_source(store, "feed", site.url("/rss.xml"), name="Herald")

    refused = fetch_sources(store, settings, pacer=HostPacer(0))  # the default settings

    (outcome,) = refused.sources
    assert outcome.refused == 1 and outcome.articles == 0
    assert "loopback" in outcome.errors[0] and "fetch.allow_private" in outcome.errors[0]
    assert site.log == []  # nothing reached the server
    (state,) = store.source_fetch_states(store.get_disinfo_source("Herald").id)
    assert state.status is None and state.error is not None and "refused" in state.error

    allowed = fetch_sources(store, private_ok(settings), pacer=HostPacer(0))
    assert allowed.sources[0].articles == 1


def test_requests_to_one_host_are_spaced_by_the_interval(
    store: SqlStore, settings: Settings, site: Site
) -> None:
    serve_feed(site, ["/news/1", "/news/2", "/news/3"])
    add_source(store, "feed", site.url("/rss.xml"), name="Herald")

    fetch_sources(store, private_ok(settings), pacer=HostPacer(0.25))

    times = [h.at for h in site.log]
    assert len(times) == 4
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.24, gaps


def test_the_pacer_waits_per_host_not_globally() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = HostPacer(2.0, clock=lambda: now[0], sleep=sleep)
    assert pacer.wait("https://a.example/1") == 0
    assert pacer.wait("https://b.example/1") == 0  # another host does not wait
    assert pacer.wait("https://www.a.example/2") == 2.0  # www. is the same outlet
    now[0] += 5
    assert pacer.wait("https://a.example/3") == 0
    assert slept == [2.0]


def test_failed_pages_are_counted_and_those_that_may_pass_are_fetched_again(
    store: SqlStore, settings: Settings, site: Site
) -> None:
    serve_feed(site, ["/news/1", "/news/2", "/news/3"])
    site.pages["/news/2"] = Page(b"busy", status=503)
    site.pages["/news/3"] = Page(b"gone", status=404)
    add_source(store, "feed", site.url("/rss.xml"), name="Herald")
    settings = private_ok(settings)

    report = fetch_sources(store, settings, pacer=HostPacer(0))
    (outcome,) = report.sources
    assert (outcome.articles, outcome.failed) == (1, 2)
    assert any("503" in e for e in outcome.errors) and any("404" in e for e in outcome.errors)
    states = store.fetch_states([site.url("/news/2"), site.url("/news/3")])
    assert states[site.url("/news/2")].status == 503
    assert states[site.url("/news/3")].status == 404

    # the feed has not changed (304), but the 503 may have passed: it is asked again; the 404
    # is not
    site.pages["/news/2"] = Page(article_html(2))
    site.log.clear()
    report = fetch_sources(store, settings, pacer=HostPacer(0))
    assert [h.path for h in site.log] == ["/rss.xml", "/news/2"]
    (outcome,) = report.sources
    assert (outcome.not_modified, outcome.articles, outcome.failed) == (1, 1, 0)
    assert stored_article(store, site.url("/news/2")).title == "Story 2"


def test_what_is_not_a_feed_fails_with_the_reason(
    store: SqlStore, settings: Settings, site: Site
) -> None:
    site.pages["/rss.xml"] = Page(b"<html><body><p>not a feed</p></body></html")
    add_source(store, "feed", site.url("/rss.xml"), name="Broken")
    report = fetch_sources(store, private_ok(settings), pacer=HostPacer(0))
    (outcome,) = report.sources
    assert outcome.failed == 1 and "not an RSS or Atom feed" in outcome.errors[0]


def test_fetch_state_is_kept_only_once_the_articles_are_committed(
    store: SqlStore, settings: Settings, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_feed(site, ["/news/1"])
    add_source(store, "feed", site.url("/rss.xml"), name="Herald")
    settings = private_ok(settings)
    real_run = Ingestor.run

    def failing_run(self: Ingestor, items: Any, **kwargs: Any) -> Any:
        if kwargs.get("source") == "disinfo:Herald":
            raise StoreUnavailable("the database went away")
        return real_run(self, items, **kwargs)

    monkeypatch.setattr(Ingestor, "run", failing_run)
    with pytest.raises(StoreUnavailable):
        fetch_sources(store, settings, pacer=HostPacer(0))
    assert store.source_fetch_states(store.get_disinfo_source("Herald").id) == []

    monkeypatch.setattr(Ingestor, "run", real_run)
    site.log.clear()
    report = fetch_sources(store, settings, pacer=HostPacer(0))
    assert "if-none-match" not in site.log[0].headers  # asked afresh, not "not modified"
    assert report.sources[0].articles == 1


MACEDONIAN = (
    "<p>Владата денеска ја усвои новата стратегија за сајбер безбедност, соопшти "
    "министерството. Според стратегијата, ќе се формира национален центар за одговор на "
    "инциденти, а соработката со партнерите од регионот ќе се зајакне.</p>"
)


def test_the_language_is_identified_from_the_text_and_the_page_hint_is_the_fallback(
    store: SqlStore, settings: Settings, site: Site
) -> None:
    body = article_html(1, lang="bg").replace(b"<article>", b"<article>" + MACEDONIAN.encode())
    site.pages["/mk"] = Page(body)
    site.pages["/hint"] = Page(body)
    add_source(store, "page", site.url("/mk"), name="Identified")
    add_source(store, "page", site.url("/hint"), name="Hinted")
    settings = private_ok(settings)
    fetch_sources(store, settings, ["Identified"], pacer=HostPacer(0))
    fetch_sources(store, settings, ["Hinted"], pacer=HostPacer(0), detect_lang=None)
    assert stored_article(store, site.url("/mk")).lang == "mk"
    assert stored_article(store, site.url("/hint")).lang == "bg"  # the page's own lang="bg"


def test_accounts_are_imported_not_fetched(store: SqlStore, settings: Settings) -> None:
    add_source(store, "account", "12345", platform="telegram", name="Channel")
    with pytest.raises(ConfigError, match="import-posts"):
        fetch_sources(store, settings, ["Channel"])
    assert fetch_sources(store, settings).sources == []
