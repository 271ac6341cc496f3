"""The detection page and its API: sightings and alerts made by the real detector, the
index status with an indicator it cannot compile, export downloads, the live alert stream,
what another organisation sees, and escaping."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from mburoja.detect.model import Record
from mburoja.detect.pipeline import Detector
from tests.factories import indicator
from tests.web.conftest import PASSWORD, SECRET_NAME, XSS, Web, sign_in

DOMAIN = "c2-detect.example"
#: valid STIX 2.1 that the detector cannot index: telemetry carries no process names
UNCOMPILABLE = "[process:name = 'dropper-detect.exe']"
REASON = "process:name is not a field telemetry carries"
_rid = itertools.count(1)


def record(kind: str, value: str, ts: float | None = None) -> Record:
    n = next(_rid)
    return Record(
        source="test",
        line=n,
        log="zeek.dns",
        rid=f"zeek.dns:C{n}:{n}",
        ts=time.time() if ts is None else ts,
        values=[(kind, value)],
        dst_ip="192.0.2.53",
        dst_port=53,
        proto="udp",
    )


def detect(web: Web, *records: Record) -> None:
    """Match ``records`` with the detector as the match pipeline runs it: hits stored,
    sightings written into the store."""
    detector = Detector(web.world.store, web.world.settings, matcher="reference")
    try:
        detector.refresh()
        outcome = detector.process(list(records))
    finally:
        detector.close()
    assert outcome.new_hits >= 1, "the test records hit no indicator"


def api(web: Web, who: str | None, path: str, **params: str) -> httpx.Response:
    if who is None:
        with httpx.Client(base_url=web.url, timeout=30) as client:
            return client.get(path, params=params)
    with web.world.client(who) as client:
        return client.get(path, params=params)


@pytest.fixture
def loaded(web: Web) -> Web:
    """A home GREEN domain indicator, an AMBER+STRICT home indicator that cannot be compiled,
    a partner-owned indicator, and a hit on each matchable one (the secret's too)."""
    web.world.load(
        [
            indicator(f"[domain-name:value = '{DOMAIN}']", name="C2 domain"),
            indicator(UNCOMPILABLE, tlp="green", name="dropper by name"),
            indicator(
                "[process:name = 'secret-tool.exe']", tlp="amber+strict", name="secret process"
            ),
        ]
    )
    web.world.load(
        [indicator("[domain-name:value = 'partner-feed.example']", name="partner's own")],
        owner=web.world.orgs["partner"],
    )
    detect(
        web,
        record("domain", DOMAIN),
        record("domain", "secret.example"),
        record("domain", "partner-feed.example"),
    )
    return web


def test_the_page_shows_a_sighting_an_alert_a_failed_indicator_and_downloads(
    browser: Any, loaded: Web, tmp_path: Path
) -> None:
    page = sign_in(browser, loaded, "same")
    page.goto(f"{loaded.url}/detection")
    assert page.locator("h1").inner_text() == "Detection"

    sighting = page.locator("#sightings tr", has_text="C2 domain")
    assert sighting.count() == 1
    assert sighting.locator("td.count").inner_text() == "1"
    link = sighting.locator("td.indicator a").get_attribute("href")
    assert link is not None and link.startswith("/objects/indicator--")

    alert = page.locator("#alerts tr", has_text=DOMAIN)
    assert alert.count() == 1 and "C2 domain" in alert.inner_text()

    index = api(loaded, "same", "/api/detection/index").json()
    assert page.locator("#active-count").inner_text() == str(index["active"])
    assert index["by_kind"]["domain"] >= 2
    failed = page.locator("#index table.failed tr", has_text="dropper by name")
    assert failed.locator("td.reason").inner_text() == REASON
    assert "secret process" in page.locator("#index table.failed").inner_text()

    with page.expect_download() as info:
        page.click("#exports a:text-is('csv')")
    download = info.value
    assert download.suggested_filename == "mburoja-indicators.csv"
    saved = tmp_path / "export.csv"
    download.save_as(saved)
    text = saved.read_text()
    assert DOMAIN in text and "secret.example" in text  # the home org sees its own secret


def test_an_alert_recorded_after_the_page_loaded_appears_without_reload(
    browser: Any, loaded: Web
) -> None:
    page = sign_in(browser, loaded, "same")
    page.goto(f"{loaded.url}/detection")
    before = page.locator("#alert-rows tr").count()
    loaded.world.load([indicator("[domain-name:value = 'late-hit.example']", name="late one")])
    detect(loaded, record("domain", "www.late-hit.example"))
    page.wait_for_selector("#alert-rows tr:has-text('www.late-hit.example')", timeout=15_000)
    assert page.locator("#alert-rows tr").count() == before + 1
    fresh = page.locator("#alert-rows tr").first
    assert "late one" in fresh.inner_text()
    assert fresh.locator("a").get_attribute("href", timeout=1000) is not None


def test_another_organisation_never_sees_the_home_amber_strict_indicator(
    browser: Any, loaded: Web
) -> None:
    page = sign_in(browser, loaded, "partner")
    page.goto(f"{loaded.url}/detection")
    html = page.content()
    for leak in (SECRET_NAME, "secret.example", "secret process", "secret-tool.exe"):
        assert leak not in html
    # the partner's own indicator: its sighting names the partner as recipient, so it sees it
    assert page.locator("#sightings tr", has_text="partner's own").count() == 1
    assert page.locator("#alerts tr", has_text="partner-feed.example").count() == 1
    # a home GREEN indicator: visible to the partner, but its AMBER sighting is not
    assert page.locator("#sightings", has_text=DOMAIN).count() == 0
    assert page.locator("#alerts", has_text=DOMAIN).count() == 0

    for path in ("sightings", "alerts", "index"):
        body = api(loaded, "partner", f"/api/detection/{path}").text
        assert "secret" not in body
        assert path == "index" or DOMAIN not in body
    index = api(loaded, "partner", "/api/detection/index").json()
    home = api(loaded, "same", "/api/detection/index").json()
    assert index["not_compiled"] == home["not_compiled"] - 1  # the AMBER+STRICT one
    assert index["active"] < home["active"]
    for fmt in ("zeek", "rpz", "nft", "csv", "stix", "suricata"):
        response = api(loaded, "partner", f"/api/detection/export/{fmt}")
        assert response.status_code == 200
        assert b"secret" not in response.content
    with page.expect_download() as info:
        page.click("#exports a:text-is('zeek')")
    assert "secret.example" not in Path(info.value.path()).read_text()


def test_xss_in_indicator_names_and_values_is_inert(browser: Any, web: Web) -> None:
    detect(web, *(record("url", f"https://x.example/{i}") for i in range(len(XSS))))
    page = sign_in(browser, web, "same")
    page.goto(f"{web.url}/detection")
    names = page.locator("#sightings td.indicator").all_inner_texts()
    for payload in XSS:
        assert payload in names
    # one more hit after loading: the script adds its row with text only
    web.world.load([indicator("[domain-name:value = 'xss-late.example']", name=XSS[0])])
    detect(web, record("domain", "xss-late.example"))
    page.wait_for_selector("#alert-rows tr:has-text('xss-late.example')", timeout=15_000)
    assert page.locator("#alert-rows tr").first.locator("a").inner_text() == XSS[0]
    for region in ("#sightings", "#alerts", "#index"):
        assert page.locator(f"{region} img, {region} b, {region} svg").count() == 0
    assert page.locator("main script").count() == 0
    page.wait_for_timeout(300)
    assert page.dialogs == [], "a payload ran script"


def test_sighting_filters_narrow_the_list(loaded: Web) -> None:
    every = api(loaded, "same", "/api/detection/sightings").json()
    assert {s["indicator_name"] for s in every["sightings"]} >= {"C2 domain", SECRET_NAME}
    by_value = api(loaded, "same", "/api/detection/sightings", indicator=DOMAIN).json()
    assert [s["indicator_name"] for s in by_value["sightings"]] == ["C2 domain"]
    target = by_value["sightings"][0]["indicator_id"]
    by_id = api(loaded, "same", "/api/detection/sightings", indicator=target).json()
    assert by_id["sightings"] == by_value["sightings"]
    assert api(loaded, "same", "/api/detection/sightings", min_count="2").json()["sightings"] == []
    future = api(loaded, "same", "/api/detection/sightings", since="2999-01-01").json()
    assert future["sightings"] == []
    past = api(loaded, "same", "/api/detection/sightings", until="2000-01-01").json()
    assert past["sightings"] == []
    where = by_value["sightings"][0]["where_sighted"][0]
    mine = api(loaded, "same", "/api/detection/sightings", where=where).json()
    assert len(mine["sightings"]) == len(every["sightings"])
    first = api(loaded, "same", "/api/detection/sightings", limit="1").json()
    assert len(first["sightings"]) == 1 and first["next"]
    second = api(loaded, "same", "/api/detection/sightings", limit="1", before=first["next"])
    assert second.json()["sightings"][0]["id"] != first["sightings"][0]["id"]


def test_the_alert_cursor_returns_only_what_came_after_it(loaded: Web) -> None:
    first = api(loaded, "same", "/api/detection/alerts").json()
    assert {a["value"] for a in first["alerts"]} >= {DOMAIN, "secret.example"}
    quiet = api(loaded, "same", "/api/detection/alerts", after=first["cursor"]).json()
    assert quiet["alerts"] == []
    detect(loaded, record("domain", f"x.{DOMAIN}"))
    later = api(loaded, "same", "/api/detection/alerts", after=quiet["cursor"]).json()
    assert [a["value"] for a in later["alerts"]] == [f"x.{DOMAIN}"]


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-45"}, "until"),
        ({"min_count": "many"}, "min_count"),
        ({"where": "not-an-identity"}, "where"),
        ({"limit": "0"}, "limit"),
        ({"before": "forged"}, "before"),
        ({"since": "2026-02-01", "until": "2026-01-01"}, "until"),
    ],
)
def test_a_bad_filter_is_refused_naming_it(web: Web, params: dict[str, str], named: str) -> None:
    response = api(web, "same", "/api/detection/sightings", **params)
    assert response.status_code == 400
    assert response.json()["error"].startswith(f"{named}:")
    with web.client() as client:
        web.sign_in(client, "same")
        page = client.get("/detection", params=params)
    assert page.status_code == 400
    assert f"{named}:" in page.text


def test_bad_alert_cursors_formats_and_missing_credentials_are_refused(web: Web) -> None:
    response = api(web, "same", "/api/detection/alerts", after="made-up")
    assert response.status_code == 400 and response.json()["error"].startswith("after:")
    assert api(web, "same", "/api/detection/export/pdf").status_code == 404
    bad_at = api(web, "same", "/api/detection/export/csv", at="now")
    assert bad_at.status_code == 400 and bad_at.json()["error"].startswith("at:")
    assert api(web, None, "/api/detection/index").status_code == 401
    with web.client() as client:
        web.sign_in(client, "same")
        polled = client.get("/detection/alerts.json", params={"after": "made-up"})
    assert polled.status_code == 400 and polled.json()["error"].startswith("after:")


def test_an_export_download_is_the_file_the_exporter_writes(loaded: Web) -> None:
    at = "2030-01-01T00:00:00Z"
    with loaded.client() as client:
        loaded.sign_in(client, "same")
        page = client.get("/detection/export/zeek", params={"at": at})
    assert page.status_code == 200
    assert page.headers["content-disposition"] == 'attachment; filename="mburoja-intel.dat"'
    assert page.headers["content-type"].startswith("text/plain")
    from_api = api(loaded, "same", "/api/detection/export/zeek", at=at)
    assert from_api.content == page.content
    assert DOMAIN in page.text and "#fields" in page.text
    zipped = api(loaded, "same", "/api/detection/export/suricata", at=at)
    assert zipped.headers["content-type"] == "application/zip"
    assert zipped.content[:2] == b"PK"


def test_the_view_reads_the_same_on_sqlite_and_postgresql(store: Any, settings: Any) -> None:
    """The store queries behind the view (sightings through the refs index, hits in key
    order, the index snapshot), on both backends, through ``mburoja.detect.status``."""
    from mburoja.detect import status
    from tests.world import build_world, load, world_settings

    settings = world_settings(settings)
    world = build_world(store, settings)
    load(store, settings, [indicator(f"[domain-name:value = '{DOMAIN}']", name="C2 domain")])
    load(store, settings, [indicator(UNCOMPILABLE, name="dropper by name")])
    detector = Detector(store, settings, matcher="reference")
    detector.refresh()
    detector.process([record("domain", DOMAIN, ts=1000.0 + n) for n in range(3)])
    detector.process([record("domain", f"a.{DOMAIN}", ts=5000.0)])
    detector.close()
    policy, cursors = store.policy(), status.Cursors("s" * 40)
    store.set_password(world.users["same"], PASSWORD)
    caller = store.check_password(world.users["same"], PASSWORD)

    found = status.sightings(store, policy, caller, status.sighting_filter({}), cursors)
    assert sorted(s.count for s in found.sightings) == [1, 3]
    narrowed = status.sighting_filter({"min_count": "2", "indicator": DOMAIN})
    only = status.sightings(store, policy, caller, narrowed, cursors)
    assert [s.count for s in only.sightings] == [3]

    newest = status.alerts(store, policy, caller, cursors, sighting_tlp="amber", limit=2)
    assert [a.value for a in newest.alerts] == [DOMAIN, f"a.{DOMAIN}"]  # oldest first
    assert newest.alerts[-1].ts.startswith("1970-01-01T01:23:20")
    assert (
        status.alerts(
            store, policy, caller, cursors, sighting_tlp="amber", after=newest.cursor
        ).alerts
        == []
    )
    start = status.alerts(store, policy, caller, cursors, sighting_tlp="amber", after="")
    assert len(start.alerts) == 4

    index = status.index_status(store, policy, caller)
    assert (index.active, index.by_kind, index.not_compiled) == (1, {"domain": 1}, 1)
    assert index.failed[0].reason == REASON and index.failed[0].name == "dropper by name"
