"""TAXII 2.1 feed runs against a real medallion server on 127.0.0.1: incremental by
``date_added``, credentials from the environment, a page failure keeps what came before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mburoja.config import Settings
from mburoja.errors import ConfigError
from mburoja.feeds import catalogue, registry
from mburoja.feeds.catalogue import FormatOptions
from mburoja.feeds.runner import run_feed
from mburoja.store.sql import SqlStore
from tests.feeds.helpers import run_settings
from tests.taxii.medallion import Medallion, add_objects, running_medallion

ENV = "MBUROJA_TEST_TAXII_FEED_SECRET"
PAGE = 2


def _indicator(n: int) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--0000{n:04d}-1111-4222-8333-444455556666",
        "created": "2026-11-01T00:00:00.000Z",
        "modified": "2026-11-01T00:00:00.000Z",
        "name": f"test indicator {n}",
        "pattern": f"[ipv4-addr:value = '192.0.2.{n}']",
        "pattern_type": "stix",
        "valid_from": "2026-11-01T00:00:00.000Z",
    }


PRELOAD = [_indicator(n) for n in range(1, 6)]


def _settings(tmp_path: Path, retries: int = 1) -> Settings:
    return run_settings(tmp_path, retries=retries)


@pytest.fixture
def server() -> Iterator[Medallion]:
    with running_medallion(PRELOAD, max_page_size=1000) as running:
        yield running


def _register(store: SqlStore, server: Medallion, auth: str = "basic") -> str:
    spec = catalogue.FeedSpec(
        name="partner-taxii",
        provider="tests",
        url=f"{server.api_root_url}collections/{server.collection_id}/",
        format="taxii",
        schedule="15m",
        tlp="amber",
        options=FormatOptions(auth=auth, auth_env=ENV, page_limit=PAGE),
    )
    registry.add(store, [spec])
    return spec.name


def _stored(store: SqlStore, objects: list[dict[str, Any]]) -> set[str]:
    return {o["id"] for o in objects if store.current(o["id"]) is not None}


def test_a_taxii_feed_pulls_everything_then_only_what_was_added(
    store: SqlStore, server: Medallion, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, f"{server.user}:{server.password}")
    settings = _settings(tmp_path)
    name = _register(store, server)

    first = run_feed(store, settings, name, holder="w")
    assert first.status == "ok", first.error
    assert (first.received, first.new, first.rejected) == (len(PRELOAD), len(PRELOAD), 0)
    assert first.adds_up and first.bytes > 0
    assert _stored(store, PRELOAD) == {o["id"] for o in PRELOAD}
    version = store.current(PRELOAD[0]["id"])
    assert version is not None and version.source == "feed:partner-taxii"
    cursor = store.feed_cursor(name)
    assert cursor.date_added_last is not None and not cursor.cut

    again = run_feed(store, settings, name, holder="w")
    assert again.status == "ok", again.error
    assert again.received == 0  # asked added_after the cursor: nothing new

    added = [_indicator(n) for n in (40, 41, 42)]
    add_objects(server, added)
    third = run_feed(store, settings, name, holder="w")
    assert third.status == "ok", third.error
    assert (third.received, third.new, third.unchanged) == (3, 3, 0)
    assert _stored(store, added) == {o["id"] for o in added}
    later = store.feed_cursor(name).date_added_last
    assert later is not None and cursor.date_added_last is not None
    assert later > cursor.date_added_last


class _FailingPages(httpx.HTTPTransport):
    """Fails every objects request after the first ``allowed`` (failure injection)."""

    def __init__(self, allowed: int) -> None:
        super().__init__()
        self.allowed = allowed
        self.asked = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if "/objects/" in request.url.path:
            self.asked += 1
            if self.asked > self.allowed:
                raise httpx.ConnectError("injected: the connection was lost", request=request)
        return super().handle_request(request)


def test_a_page_failure_records_what_was_committed_and_the_next_run_goes_on(
    store: SqlStore, server: Medallion, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, f"{server.user}:{server.password}")
    settings = _settings(tmp_path, retries=0)
    name = _register(store, server)

    cut = run_feed(store, settings, name, holder="w", transport=_FailingPages(allowed=1))
    assert cut.status == "failed"
    assert "injected: the connection was lost" in (cut.error or "")
    # the first page was committed and is counted
    assert (cut.received, cut.new) == (PAGE, PAGE) and cut.adds_up
    assert len(_stored(store, PRELOAD)) == PAGE
    assert store.feed_cursor(name).cut
    assert store.feed_state(name).failures == 1

    rest = run_feed(store, settings, name, holder="w")
    assert rest.status == "ok", rest.error
    assert _stored(store, PRELOAD) == {o["id"] for o in PRELOAD}
    assert rest.new == len(PRELOAD) - PAGE and rest.adds_up
    assert rest.received < len(PRELOAD)  # it went on from the cut, not from the start
    assert not store.feed_cursor(name).cut
    assert store.feed_state(name).healthy and store.feed_state(name).failures == 0


def test_credentials_come_from_the_environment_and_a_missing_one_says_which(
    store: SqlStore, server: Medallion, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    name = _register(store, server)
    run = run_feed(store, _settings(tmp_path), name, holder="w")
    assert run.status == "failed"
    assert f"the environment variable {ENV} (options.auth_env) is not set" in (run.error or "")

    monkeypatch.setenv(ENV, f"{server.user}:wrong")
    wrong = run_feed(store, _settings(tmp_path), name, holder="w")
    assert wrong.status == "failed" and "401" in (wrong.error or "")
    assert store.current(PRELOAD[0]["id"]) is None


@pytest.mark.parametrize(
    ("options", "url", "message"),
    [
        ({}, "https://taxii.example/api1/", "url: 'https://taxii.example/api1/' is not a TAXII"),
        ({"auth": "bearer"}, None, "options.auth_env: auth 'bearer' needs the name"),
        ({"auth": "token"}, None, "options.auth: 'token': use one of none, bearer, basic"),
        ({"auth_env": "NOT A NAME"}, None, "'NOT A NAME' is not an environment variable name"),
        ({"page_limit": 0}, None, "options.page_limit: 0 is below 1"),
    ],
)
def test_the_catalogue_checks_a_taxii_feed(
    options: dict[str, Any], url: str | None, message: str
) -> None:
    lines = [
        "[[feed]]",
        'name = "partner"',
        'provider = "tests"',
        f'url = "{url or "https://taxii.example/api1/collections/abc/"}"',
        'format = "taxii"',
        'schedule = "1h"',
        "[feed.options]",
        *(f"{k} = {v!r}".replace("'", '"') for k, v in options.items()),
    ]
    with pytest.raises(ConfigError) as caught:
        catalogue.parse("\n".join(lines), "partners.toml")
    assert message in str(caught.value)


def test_a_collection_url_names_its_api_root_and_id() -> None:
    found = catalogue.taxii_collection("https://t.example/api1/collections/abc-1/")
    assert found == ("https://t.example/api1/", "abc-1")
    assert catalogue.taxii_collection("https://t.example/api1/collections/") is None
