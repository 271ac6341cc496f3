"""The dashboard's panels: each read through the policy as the signed-in user."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson

from mburoja.api.app import create_app
from mburoja.demo.scenario import generate
from mburoja.ingest.pipeline import Ingestor
from mburoja.stix.markings import TLP2
from mburoja.stix.model import RawObject
from tests.factories import sdo
from tests.web.conftest import SECRET_NAME, XSS, Web, sign_in


def load_demo(web: Web) -> list[dict[str, Any]]:
    """The demo scenario, ingested as `mburoja demo` does, owned by the home organisation."""
    objects = generate(7)
    items = (RawObject(orjson.dumps(o), "demo(seed=7)", i) for i, o in enumerate(objects))
    report = Ingestor(web.world.store, web.world.settings, workers=0).run(
        items, source="demo", actor="demo", collection="demo"
    )
    assert report.rejected == 0
    return objects


def current(objects: list[dict[str, Any]], type_: str) -> dict[str, dict[str, Any]]:
    """The newest version of each object of ``type_`` (by ``modified``), not revoked."""
    out: dict[str, dict[str, Any]] = {}
    for o in objects:
        if o["type"] == type_ and o["modified"] >= out.get(o["id"], {}).get("modified", ""):
            out[o["id"]] = o
    return {k: v for k, v in out.items() if not v.get("revoked")}


def chart_values(page: Any, figure: str) -> tuple[int, int]:
    """(the caption's total, the sum of the columns' values) of a column chart."""
    total = int(page.inner_text(f"#{figure} figcaption .total"))
    values = page.eval_on_selector_all(
        f"#{figure} rect.bar", "rs => rs.map(r => Number(r.dataset.value))"
    )
    return total, sum(values)


def test_see_the_dashboard_with_the_demo_data(browser: Any, web: Web) -> None:
    objects = load_demo(web)
    page = sign_in(browser, web, "same")
    campaigns = page.inner_text("#campaigns")
    for c in current(objects, "campaign").values():
        assert c["name"] in campaigns
    sets = page.inner_text("#intrusion-sets")
    assert current(objects, "intrusion-set"), "the scenario has an intrusion set"
    for s in current(objects, "intrusion-set").values():
        assert s["name"] in sets
    # every version in the store was stored by an ingest run of the last two days
    versions = web.world.store.stats().versions
    assert chart_values(page, "ingest-chart") == (versions, versions)
    assert page.locator("#ingest-chart svg").count() == 1
    # sightings: the scenario's sightings, counted by their ``count``
    sightings = current(objects, "sighting")
    assert sightings
    total, columns = chart_values(page, "sightings-chart")
    assert total == columns == sum(s.get("count", 1) for s in sightings.values())
    top = page.eval_on_selector_all("#top-sighted a", "as => as.map(a => a.getAttribute('href'))")
    sighted = {s["sighting_of_ref"] for s in sightings.values()}
    assert top and all(href.removeprefix("/objects/") in sighted for href in top)
    assert page.locator("#federation").count() == 1
    assert page.locator("#disinfo-findings a[href='/disinfo']").count() == 1
    assert page.dialogs == []


def test_a_partner_sees_no_amber_strict_object_and_no_home_panels(browser: Any, web: Web) -> None:
    objects = load_demo(web)
    strict = TLP2["amber+strict"]
    hidden = [
        o["name"]
        for o in objects
        if strict in o.get("object_marking_refs", []) and isinstance(o.get("name"), str)
    ]
    hidden_ids = [o["id"] for o in objects if strict in o.get("object_marking_refs", [])]
    assert hidden, "the scenario has AMBER+STRICT named objects"
    page = sign_in(browser, web, "partner")
    html = page.content()
    for name in [*hidden, SECRET_NAME]:
        assert name not in html
    for object_id in hidden_ids:
        assert object_id not in html
    assert page.locator("#federation").count() == 0
    assert page.locator("#disinfo-findings").count() == 0
    assert page.locator("#narrative-hits").count() == 0
    # the partner made no ingest run: its chart counts nothing of the home organisation's
    assert page.inner_text("#ingest-chart figcaption .total") == "0"
    with web.world.client("partner") as client:
        seen = client.get("/api/stats").json()
    assert page.inner_text("#objects-count") == str(seen["objects"])
    assert int(page.inner_text("#objects-count")) < web.world.store.stats().objects


def test_names_with_markup_stay_text_in_every_panel(browser: Any, web: Web) -> None:
    clear = {"object_marking_refs": [TLP2["clear"]]}
    web.world.load(
        [
            sdo("campaign", payload, last_seen=f"2026-01-0{i + 1}T00:00:00Z", **clear)
            for i, payload in enumerate(XSS)
        ]
        + [sdo("intrusion-set", XSS[0], **clear)]
    )
    page = sign_in(browser, web, "client")
    campaigns = page.inner_text("#campaigns")
    for payload in XSS:
        assert payload in campaigns
    assert XSS[0] in page.inner_text("#intrusion-sets")
    assert page.locator("#campaigns img, #campaigns script, #intrusion-sets img").count() == 0
    assert page.dialogs == []


def test_a_bad_span_is_refused_with_the_field_named(web: Web) -> None:
    with web.client() as client:
        web.sign_in(client, "same")
        answer = client.get("/?days=0")
        assert answer.status_code == 400
        assert re.search(r"days must be a whole number from 1 to 90", answer.text)
        assert client.get("/?days=7").status_code == 200


def test_the_server_fills_the_dashboard_counts_in_the_background_as_it_starts(web: Web) -> None:
    """Starting the application (its lifespan), without any page asked for, fills the
    memoised count groups up to the store's newest version."""
    store = web.world.store
    app = create_app(web.world.settings, store)
    top = store.newest_seq()

    async def start_and_wait() -> None:
        async with app.router.lifespan_context(app):
            for _ in range(400):
                groups = store._overview().groups
                if {k: v[0] for k, v in groups.items()} == {True: top, False: top}:
                    return
                await asyncio.sleep(0.05)

    assert store._overview().groups == {}  # no page was asked for
    asyncio.run(start_and_wait())
    groups = store._overview().groups
    assert groups[True][0] == top and groups[False][0] == top
    assert sum(g.count for g in groups[True][1]) == store.stats().objects
