"""The search page and ``GET /api/search``: by value (an address finds its network's
indicator), by name and by words, the filters and their errors, and what another
organisation may find."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from mburoja.config import Settings
from mburoja.store.sql import SqlStore
from mburoja.store.textindex import TextIndexer
from mburoja.web import lookup
from tests.factories import indicator, sdo
from tests.web.conftest import SECRET_NAME, XSS, Web, sign_in
from tests.world import served


@contextmanager
def signed_client(web: Web, who: str) -> Iterator[httpx.Client]:
    """An httpx client with ``who``'s session cookie."""
    with web.client() as client:
        assert web.sign_in(client, who).status_code == 303
        yield client


def api_search(web: Web, who: str, **params: Any) -> httpx.Response:
    with web.world.client(who, Accept="application/json") as client:
        return client.get("/api/search", params=params)


def test_an_address_finds_the_indicator_of_its_network_and_opens_it(browser: Any, web: Web) -> None:
    page = sign_in(browser, web, "same")
    page.click("nav.pages a[href='/search']")
    page.wait_for_load_state()
    page.fill("input[name=q]", "198.51.100.7")
    page.click("form.search button[type=submit]")
    page.wait_for_load_state()
    rows = page.locator("#results tr.hit")
    assert rows.count() == 1
    row = rows.first.inner_text()
    assert "[ipv4-addr:value = '198.51.100.0/24']" in row
    assert "green" in row and "value" in row and "test" in row
    page.click("#results tr.hit td.name a")
    page.wait_for_load_state()
    assert "/objects/indicator--" in page.url
    assert page.locator("#object-name").inner_text() == "[ipv4-addr:value = '198.51.100.0/24']"
    assert "198.51.100.0/24" in page.locator("#properties td.prop-pattern").inner_text()
    exports = page.locator("#exports").inner_text()
    assert "nft" in exports and "net" in exports


def test_another_organisation_never_finds_the_amber_strict_object(browser: Any, web: Web) -> None:
    queries = ("secret.example", SECRET_NAME, "HOME-ONLY amber", "amber strict indicator")
    home = sign_in(browser, web, "same")
    for query in queries:  # the home organisation finds it each way
        home.goto(f"{web.url}/search?q={query}")
        assert SECRET_NAME in home.locator("#results").inner_text(), query
    home.close()
    browser.clear_cookies()
    page = sign_in(browser, web, "partner")
    for query in queries:
        page.goto(f"{web.url}/search?q={query}")
        assert page.locator("#hit-count").inner_text() == "0", query
        results = page.locator("#results").inner_text()
        assert "secret.example" not in results and "amber+strict" not in results
    for query in queries:
        body = api_search(web, "partner", q=query).json()
        assert body["hits"] == [] and body["sources"] == [], query


def test_xss_payload_names_found_by_name_render_inert(browser: Any, web: Web) -> None:
    page = sign_in(browser, web, "same")
    page.goto(f"{web.url}/search?q=alert")
    names = page.locator("#results td.name").all_inner_texts()
    for payload in XSS:
        if "alert" in payload:
            assert payload in names
    assert page.locator("#results img, #results svg, #results b, main script").count() == 0
    page.goto(f"{web.url}/search?q=<svg onload=alert(1)>")
    assert page.locator("#results td.name").all_inner_texts() == ["<svg onload=alert(1)>"]
    assert page.locator("input[name=q]").input_value() == "<svg onload=alert(1)>"
    page.wait_for_timeout(300)
    assert page.dialogs == []


def test_name_and_word_matches_are_labelled(web: Web) -> None:
    web.world.load(
        [
            sdo("campaign", "Operation Winter Lynx", description="phishing against ministries"),
            sdo("malware", "LynxLoader", description="a loader used in winter operations"),
        ]
    )
    body = api_search(web, "same", q="winter lynx").json()
    by_name = {h["name"]: h for h in body["hits"]}
    assert by_name["Operation Winter Lynx"]["match"] == "name"
    assert by_name["Operation Winter Lynx"]["type"] == "campaign"
    body = api_search(web, "same", q="loader ministries").json()
    assert body["hits"] == []  # the words are in two different objects
    body = api_search(web, "same", q="Winter Operations").json()
    assert [h["name"] for h in body["hits"]] == ["LynxLoader"]
    assert body["hits"][0]["match"] == "text" and body["hits"][0]["sources"] == ["test"]


def test_filters_narrow_the_page_and_the_api(web: Web) -> None:
    web.world.load(
        [
            indicator("[domain-name:value = 'filter-a.example']", tlp="clear", confidence=90),
            indicator("[domain-name:value = 'filter-b.example']", tlp="green", confidence=20),
            sdo("campaign", "filter campaign"),  # no marking: TLP "none"
        ]
    )

    def names(**params: Any) -> list[str]:
        response = api_search(web, "same", q="filter", **params)
        assert response.status_code == 200, response.text
        return sorted(h["name"] for h in response.json()["hits"])

    everything = names()
    assert everything == sorted(
        [
            "[domain-name:value = 'filter-a.example']",
            "[domain-name:value = 'filter-b.example']",
            "filter campaign",
        ]
    )
    assert names(type="campaign") == ["filter campaign"]
    assert names(tlp="clear") == ["[domain-name:value = 'filter-a.example']"]
    assert names(min_confidence="50") == ["[domain-name:value = 'filter-a.example']"]
    assert names(source="test") == everything
    assert names(source="elsewhere") == []
    assert names(since="2000-01-01", until="2999-12-31") == everything
    assert names(until="2000-01-01") == []
    with signed_client(web, "same") as client:
        page = client.get("/search", params={"q": "filter", "type": "indicator", "tlp": "green"})
        assert page.status_code == 200
        assert "filter-b.example" in page.text and "filter-a.example" not in page.text
        assert 'value="indicator"' in page.text  # the filters stay in the form


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-45"}, "until"),
        ({"since": "2026-02-01", "until": "2026-01-01"}, "until"),
        ({"min_confidence": "high"}, "min_confidence"),
        ({"min_confidence": "101"}, "min_confidence"),
        ({"tlp": "purple"}, "tlp"),
        ({"type": "Not A Type"}, "type"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(web: Web, params: dict[str, str], field: str) -> None:
    with signed_client(web, "same") as client:
        page = client.get("/search", params={"q": "x", **params})
    assert page.status_code == 400
    assert f'data-field="{field}"' in page.text
    assert f"Cannot search: {field}:" in page.text
    response = api_search(web, "same", q="x", **params)
    assert response.status_code == 400
    assert response.json()["error"].startswith(f"{field}:")
    assert response.json()["status"] == 400


def test_the_search_page_without_a_query_shows_the_form_only(web: Web) -> None:
    with signed_client(web, "same") as client:
        page = client.get("/search")
    assert page.status_code == 200
    assert '<input id="q" name="q"' in page.text and 'id="results"' not in page.text


def test_api_search_keeps_its_fields_and_matches_on_both_stores(
    store: SqlStore, settings: Settings
) -> None:
    with served(store, settings) as world:
        world.load(
            [
                indicator("[ipv4-addr:value = '203.0.113.0/24']", name="doc net 100%_match"),
                indicator("[domain-name:value = 'strict.example']", tlp="amber+strict"),
            ]
        )
        with world.client("same", Accept="application/json") as client:
            body = client.get("/api/search", params={"q": "203.0.113.9"}).json()
            assert set(body) >= {"query", "keys", "hits", "sources", "first_seen", "last_seen"}
            assert [h["match"] for h in body["hits"]] == ["value"]
            assert body["hits"][0]["matched"] == [{"kind": "ipv4-net", "value": "203.0.113.0/24"}]
            # LIKE wildcards in the query are literal characters
            body = client.get("/api/search", params={"q": "100%_match"}).json()
            assert [h["name"] for h in body["hits"]] == ["doc net 100%_match"]
            assert client.get("/api/search", params={"q": "100%_x"}).json()["hits"] == []
            assert (
                len(client.get("/api/search", params={"q": "strict.example"}).json()["hits"]) == 1
            )
        with world.client("partner", Accept="application/json") as client:
            for query in ("strict.example", "strict", "domain-name"):
                hits = client.get("/api/search", params={"q": query}).json()["hits"]
                assert all("strict.example" not in (h["value"] or "") for h in hits), query


@pytest.fixture
def stalled_indexer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Failure injection, before the app starts: the background indexer does not run, and
    a search's own catch-up takes in 3 versions at a time."""
    monkeypatch.setattr(TextIndexer, "start", lambda self: None)
    monkeypatch.setattr(lookup, "CATCH_UP", 3)


def test_the_first_object_stored_is_found_by_name_and_word_while_the_index_catches_up(
    stalled_indexer: None, web: Web
) -> None:
    """The index is filled oldest first: an old object is never out of reach (the former
    scan saw only the newest versions). While the index is behind, the newest objects are
    not matched by name yet, and the page and the API say so rather than miss them
    silently; each search takes in a few more versions until it has caught up."""
    store = web.world.store
    store.index_text(10_000)  # what the world holds so far, as the indexer would have
    assert store.text_backlog() == 0
    first = sdo("campaign", "Ancient Heron", description="the oldest kingfisher flight")
    later = [sdo("campaign", f"Later Wren {i:02d}") for i in range(20)]
    web.world.load([first])
    web.world.load(later)
    body = api_search(web, "same", q="ancient heron").json()
    assert [(h["id"], h["match"]) for h in body["hits"]] == [(first["id"], "name")]
    assert body["windowed"] is True  # later versions are still waiting
    body = api_search(web, "same", q="kingfisher flight").json()
    assert [(h["name"], h["match"]) for h in body["hits"]] == [("Ancient Heron", "text")]
    assert api_search(web, "same", q="Later Wren 19").json()["hits"] == []
    with signed_client(web, "same") as client:
        page = client.get("/search", params={"q": "wren"})
        behind = store.text_backlog()
        assert behind > 0
        assert f"taking in the newest {behind} stored versions" in page.text
    with signed_client(web, "partner") as client:
        page = client.get("/search", params={"q": "wren"})
        # another organisation learns that the index is behind, not by how much
        assert "taking in the newest stored versions" in page.text
    for _ in range(200):  # each search takes in 3 more versions
        body = api_search(web, "same", q="Later Wren 19").json()
        if not body["windowed"]:
            break
    assert body["windowed"] is False and store.text_backlog() == 0
    assert [h["id"] for h in body["hits"]] == [later[19]["id"]]
    with signed_client(web, "same") as client:
        assert 'id="index-behind"' not in client.get("/search", params={"q": "wren"}).text
    names = api_search(web, "same", q="wren", limit="50").json()
    assert sorted(h["name"] for h in names["hits"]) == [o["name"] for o in later]
