"""The object page and ``GET /api/objects/{id}/view``: properties, versions and their diff,
provenance and signature status, references in and out, sightings, exports, and the same
404 for an object that does not exist and one the caller may not see."""

from __future__ import annotations

import re
from typing import Any

import httpx

from mburoja.stix.markings import TLP2
from mburoja.store.base import Provenance
from mburoja.store.outbox import Hop, Relay, relay_key
from tests.factories import T0, indicator, prepared, relationship, sdo
from tests.web.conftest import SECRET_NAME, XSS, Web, sign_in

V2 = "2026-01-02T00:00:00.000Z"


def view(web: Web, who: str, object_id: str) -> httpx.Response:
    with web.world.client(who, Accept="application/json") as client:
        return client.get(f"/api/objects/{object_id}/view")


def secret_id(web: Web) -> str:
    found = web.world.store.search("secret.example").hits
    assert len(found) == 1
    return found[0].id


def test_the_page_shows_two_versions_and_what_changed(browser: Any, web: Web) -> None:
    v1 = indicator(description="first look", x_feed_score=3, labels=["a"])
    v2 = {**v1, "modified": V2, "description": "second look", "x_analyst": {"note": "<i>x</i>"}}
    del v2["labels"]
    web.world.load([v1])
    web.world.load([v2])
    page = sign_in(browser, web, "same")
    page.goto(f"{web.url}/objects/{v1['id']}")
    assert page.locator("#object-id").inner_text() == v1["id"]
    assert page.locator("#properties td.prop-description").inner_text() == "second look"
    assert '"note": "<i>x</i>"' in page.locator("#properties td.prop-x_analyst").inner_text()
    assert page.locator("#properties i").count() == 0
    versions = page.locator("#versions article.version")
    assert versions.count() == 2
    assert "current" in versions.nth(1).inner_text()
    rows = versions.nth(1).locator("table.diff tbody tr").all_inner_texts()
    cells = [re.split(r"\t", r) for r in rows]
    assert ["description", "changed", "first look", "second look"] in cells
    assert ["labels", "removed", '["a"]', ""] in cells
    assert ["modified", "changed", T0, V2] in cells
    assert any(c[:2] == ["x_analyst", "added"] for c in cells)
    assert "local" in versions.nth(0).locator(".sig").inner_text()
    assert page.locator("#graph-link").get_attribute("href") == f"/graph/{v1['id']}"
    page.wait_for_timeout(200)
    assert page.dialogs == []


def test_another_organisation_gets_the_same_404_as_for_an_unknown_id(
    browser: Any, web: Web
) -> None:
    hidden = secret_id(web)
    unknown = "indicator--00000000-0000-4000-8000-000000000000"
    assert view(web, "same", hidden).json()["name"] == SECRET_NAME
    page = sign_in(browser, web, "partner")
    answers = []
    for object_id in (hidden, unknown):
        response = page.goto(f"{web.url}/objects/{object_id}")
        assert response is not None and response.status == 404
        answers.append(page.locator("main").inner_text().replace(object_id, "ID"))
        assert SECRET_NAME not in page.content()
    assert answers[0] == answers[1]
    for object_id in (hidden, unknown):
        response = view(web, "partner", object_id)
        assert response.status_code == 404
        assert SECRET_NAME not in response.text
    assert view(web, "partner", hidden).json()["error"].replace(hidden, "ID") == (
        view(web, "partner", unknown).json()["error"].replace(unknown, "ID")
    )


def test_xss_payload_names_render_inert_on_the_object_page(browser: Any, web: Web) -> None:
    page = sign_in(browser, web, "same")
    for hit in web.world.store.search("x.example").hits:
        page.goto(f"{web.url}/objects/{hit.id}")
        name = page.locator("#object-name").inner_text()
        assert name in XSS
        assert page.locator("main img, main svg, main script, main b").count() == 0
        assert page.locator("#properties td.prop-labels").inner_text().count(name) == 1
    page.wait_for_timeout(300)
    assert page.dialogs == []


def test_a_malformed_id_is_a_400(web: Web) -> None:
    with web.client() as client:
        assert web.sign_in(client, "same").status_code == 303
        page = client.get("/objects/not-an-id")
    assert page.status_code == 400 and "not a STIX identifier" in page.text
    response = view(web, "same", "not-an-id")
    assert response.status_code == 400 and "not a STIX identifier" in response.json()["error"]


def test_links_sightings_and_exports_through_the_policy(web: Web) -> None:
    url = indicator("[url:value = 'http://bad.example/x']", tlp="clear")
    malware = sdo("malware", "BadLoader", object_marking_refs=url["object_marking_refs"])
    uses = relationship(url["id"], "indicates", malware["id"])
    uses["object_marking_refs"] = url["object_marking_refs"]
    hidden = relationship(url["id"], "related-to", malware["id"])
    hidden["object_marking_refs"] = [TLP2["red"]]
    sighting = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": "sighting--6b3e4c71-6c93-4cbb-8b0a-3f3c3d2d1a11",
        "created": T0,
        "modified": T0,
        "sighting_of_ref": url["id"],
        "count": 7,
        "first_seen": T0,
        "last_seen": V2,
        "object_marking_refs": url["object_marking_refs"],
    }
    web.world.load([url, malware, uses, hidden, sighting])
    body = view(web, "same", url["id"]).json()
    links = {(link["direction"], link["property"], link["id"]) for link in body["links"]}
    assert ("in", "source_ref", uses["id"]) in links
    assert ("in", "source_ref", hidden["id"]) in links
    assert body["sightings"] == [
        {"id": sighting["id"], "count": 7, "first_seen": T0, "last_seen": V2}
    ]
    formats = {f["format"]: f for f in body["exports"]["formats"]}
    assert body["exports"]["compiled"] is True
    assert formats["zeek"]["carried"] and formats["zeek"]["reason"] == "url"
    assert formats["csv"]["carried"] and formats["stix"]["carried"]
    assert not formats["nft"]["carried"] and "url: not taken by nft" in formats["nft"]["reason"]
    assert not formats["rpz"]["carried"]
    partner = view(web, "partner", url["id"]).json()
    partner_links = {link["id"] for link in partner["links"]}
    assert uses["id"] in partner_links and hidden["id"] not in partner_links
    assert view(web, "partner", hidden["id"]).status_code == 404
    out = view(web, "same", uses["id"]).json()["links"]
    assert {(link["direction"], link["property"], link["id"]) for link in out} >= {
        ("out", "source_ref", url["id"]),
        ("out", "target_ref", malware["id"]),
    }
    assert {link["relationship_type"] for link in body["links"]} == {"indicates", "related-to"}


def test_a_pattern_that_does_not_compile_says_why(web: Web) -> None:
    odd = indicator("[process:name = 'x.exe']", tlp="clear")
    web.world.load([odd])
    exports = view(web, "same", odd["id"]).json()["exports"]
    assert exports["compiled"] is False and exports["reason"]
    assert [f["format"] for f in exports["formats"]] == ["stix"]


def test_a_version_a_peer_relayed_shows_its_signature_and_path(web: Web) -> None:
    store = web.world.store
    obj = indicator("[domain-name:value = 'relayed.example']", tlp="green")
    ingest = store.begin_ingest("peer:hub", "test")
    relay = Relay(
        origin="ed25519:00112233aabbccdd",
        path=(
            Hop("ed25519:00112233aabbccdd", T0),
            Hop("ed25519:ffeeddccbbaa9988", V2),
        ),
        signature='{"origin":"ed25519:00112233aabbccdd"}',
    )
    store.write_batch(
        [prepared(obj)],
        [],
        Provenance(
            source="peer:hub",
            actor="test",
            ingest_id=ingest,
            relay={relay_key(obj["id"], obj["modified"]): relay},
        ),
    )
    version = view(web, "same", obj["id"]).json()["versions"][0]
    assert version["signature"]["status"] == "verified"
    assert version["signature"]["origin"] == "ed25519:00112233aabbccdd"
    assert [h["instance"] for h in version["signature"]["path"]] == [
        "ed25519:00112233aabbccdd",
        "ed25519:ffeeddccbbaa9988",
    ]
    assert version["source"] == "peer:hub"
