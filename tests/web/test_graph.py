"""The neighbourhood graph: ``mburoja.graph`` on both stores, the page ``/graph/<id>`` in
Chromium (expand included), its ``.json`` and ``GET /api/graph/{id}``; and that nothing the
caller may not see becomes a node, an edge or a count."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mburoja.api.app import build_policy
from mburoja.config import Settings
from mburoja.graph import neighbourhood
from mburoja.policy import Caller
from mburoja.stix.markings import TLP2
from mburoja.store.sql import SqlStore
from tests.factories import indicator, relationship, sdo
from tests.web.conftest import XSS, Web, sign_in
from tests.world import build_world, load, world_settings

GREEN = {"object_marking_refs": [TLP2["green"]]}
STRICT = {"object_marking_refs": [TLP2["amber+strict"]]}


def green(obj: dict[str, Any]) -> dict[str, Any]:
    return {**obj, **GREEN}


def strict(obj: dict[str, Any]) -> dict[str, Any]:
    return {**obj, **STRICT}


def sighting(of: str, count: int = 3) -> dict[str, Any]:
    return green(
        {
            "type": "sighting",
            "spec_version": "2.1",
            "id": f"sighting--{indicator()['id'].partition('--')[2]}",
            "created": "2026-01-02T00:00:00.000Z",
            "modified": "2026-01-02T00:00:00.000Z",
            "sighting_of_ref": of,
            "count": count,
        }
    )


def chain(prefix: str = "") -> dict[str, dict[str, Any]]:
    """intrusion-set ← campaign (attributed-to) → malware (uses) ← indicator (indicates) ←
    sighting: one, two, three and four hops from the intrusion set."""
    objs: dict[str, dict[str, Any]] = {
        "intrusion-set": green(sdo("intrusion-set", f"{prefix}Cold Harbour")),
        "campaign": green(sdo("campaign", f"{prefix}Operation Lantern")),
        "malware": green(sdo("malware", f"{prefix}LanternRAT")),
        "indicator": indicator("[domain-name:value = 'lantern.example']", name=f"{prefix}C2"),
    }
    objs["sighting"] = sighting(objs["indicator"]["id"])
    objs["attributed"] = green(
        relationship(objs["campaign"]["id"], "attributed-to", objs["intrusion-set"]["id"])
    )
    objs["uses"] = green(relationship(objs["campaign"]["id"], "uses", objs["malware"]["id"]))
    objs["indicates"] = green(
        relationship(objs["indicator"]["id"], "indicates", objs["malware"]["id"])
    )
    return objs


def labels(graph: dict[str, Any]) -> set[str]:
    return {n["label"] for n in graph["nodes"]}


def api_graph(web: Web, who: str, oid: str, **params: Any) -> httpx.Response:
    with web.world.client(who, Accept="application/json") as client:
        return client.get(f"/api/graph/{oid}", params=params)


# -- the logic, on SQLite and PostgreSQL ---------------------------------------------------


@pytest.fixture
def world(store: SqlStore, settings: Settings) -> Any:
    settings = world_settings(settings)
    built = build_world(store, settings)
    return built


def caller(store: SqlStore, world: Any, who: str) -> Caller:
    return store.authenticate(world.tokens[who])


def test_two_hops_follow_relationships_as_labelled_edges_and_stop_there(
    store: SqlStore, world: Any
) -> None:
    objs = chain()
    load(store, world.settings, objs.values())
    policy = build_policy(world.settings, store)
    root = objs["intrusion-set"]["id"]

    graph = neighbourhood(store, policy, caller(store, world, "partner"), root)

    hops = {n.id: n.hop for n in graph.nodes}
    assert hops == {root: 0, objs["campaign"]["id"]: 1, objs["malware"]["id"]: 2}
    assert {(e.source, e.label, e.target) for e in graph.edges} == {
        (objs["campaign"]["id"], "attributed-to", root),
        (objs["campaign"]["id"], "uses", objs["malware"]["id"]),
    }
    assert not any(n.type == "relationship" for n in graph.nodes)
    assert graph.capped is False
    one = neighbourhood(store, policy, caller(store, world, "partner"), root, hops=1)
    assert [n.label for n in one.nodes] == ["Cold Harbour", "Operation Lantern"]
    # from the indicator: the malware one way, the sighting (a reference) the other
    around = neighbourhood(
        store, policy, caller(store, world, "partner"), objs["indicator"]["id"], hops=1
    )
    assert {(e.source, e.label, e.target) for e in around.edges} == {
        (objs["indicator"]["id"], "indicates", objs["malware"]["id"]),
        (objs["sighting"]["id"], "sighting_of_ref", objs["indicator"]["id"]),
    }
    assert {n.label for n in around.nodes} >= {"LanternRAT", "seen 3 times"}


def test_only_current_versions_are_walked(store: SqlStore, world: Any) -> None:
    objs = chain()
    load(store, world.settings, objs.values())
    renamed = {**objs["malware"], "name": "LanternRAT v2", "modified": "2026-02-01T00:00:00.000Z"}
    load(store, world.settings, [renamed])
    policy = build_policy(world.settings, store)
    graph = neighbourhood(
        store, policy, caller(store, world, "partner"), objs["intrusion-set"]["id"]
    )
    assert "LanternRAT v2" in {n.label for n in graph.nodes}
    assert "LanternRAT" not in {n.label for n in graph.nodes}


def test_hidden_objects_are_never_nodes_edges_or_counted_towards_the_cap(
    store: SqlStore, world: Any
) -> None:
    root = green(sdo("campaign", "Hub"))
    visible = [green(sdo("malware", f"seen {i}")) for i in range(3)]
    hidden = [strict(sdo("malware", f"hidden {i}")) for i in range(12)]
    rels = [green(relationship(root["id"], "uses", m["id"])) for m in visible + hidden]
    load(store, world.settings, [root, *hidden, *visible, *rels])
    policy = build_policy(world.settings, store)
    partner = caller(store, world, "partner")

    graph = neighbourhood(store, policy, partner, root["id"], cap=4)
    assert sorted(n.label for n in graph.nodes) == ["Hub", "seen 0", "seen 1", "seen 2"]
    assert graph.capped is False  # twelve hidden neighbours: not a word of them
    assert len(graph.edges) == 3
    smaller = neighbourhood(store, policy, partner, root["id"], cap=3)
    assert smaller.capped is True and len(smaller.nodes) == 3
    # the home organisation sees them all (so the hiding above is the policy's doing)
    home = neighbourhood(store, policy, caller(store, world, "same"), root["id"])
    assert len(home.nodes) == 16 and len(home.edges) == 15


def test_a_hub_is_read_page_by_page_until_the_cap(store: SqlStore, world: Any) -> None:
    hub = green(sdo("malware", "Hub family"))
    indicators = [indicator(f"[ipv4-addr:value = '198.51.100.{i}']") for i in range(30)]
    rels = [green(relationship(i["id"], "indicates", hub["id"])) for i in indicators]
    load(store, world.settings, [hub, *indicators, *rels])
    page, after = store.referrers([hub["id"]], limit=7)
    # a full page ends before its last object, whose references might go on past it
    assert len(page) == 6 and after == page[-1].seq
    rest, _ = store.referrers([hub["id"]], after=after, limit=100)
    assert {r.id for r in page}.isdisjoint({r.id for r in rest})
    assert len(page) + len(rest) == 30
    policy = build_policy(world.settings, store)
    graph = neighbourhood(store, policy, caller(store, world, "client"), hub["id"], cap=10)
    assert graph.capped is True and len(graph.nodes) == 10


def test_a_reference_removed_by_a_granular_marking_gives_no_edge(
    store: SqlStore, world: Any
) -> None:
    seen_at = green(sdo("identity", "Where it was seen"))
    ind = indicator("[domain-name:value = 'granular.example']", name="Granular")
    spotted = sighting(ind["id"])
    spotted["where_sighted_refs"] = [seen_at["id"]]
    spotted["granular_markings"] = [
        {"marking_ref": TLP2["amber+strict"], "selectors": ["where_sighted_refs"]}
    ]
    load(store, world.settings, [seen_at, ind, spotted])
    policy = build_policy(world.settings, store)
    partner = caller(store, world, "partner")
    # the partner sees the sighting, without the property that names the identity
    of_ind = neighbourhood(store, policy, partner, ind["id"], hops=1)
    assert {n.id for n in of_ind.nodes} == {ind["id"], spotted["id"]}
    of_identity = neighbourhood(store, policy, partner, seen_at["id"])
    assert [n.id for n in of_identity.nodes] == [seen_at["id"]] and of_identity.edges == ()
    home = neighbourhood(store, policy, caller(store, world, "same"), seen_at["id"])
    assert {(e.source, e.label, e.target) for e in home.edges} == {
        (spotted["id"], "where_sighted_refs", seen_at["id"]),
        (spotted["id"], "sighting_of_ref", ind["id"]),
    }


# -- the page, its JSON and the API ------------------------------------------------------------


def test_browser_open_the_graph_and_expand_a_node(web: Web, browser: Any) -> None:
    objs = chain()
    web.world.load(objs.values())
    page = sign_in(browser, web, "partner")
    page.goto(f"{web.url}/graph/{objs['intrusion-set']['id']}")
    svg = page.locator("#graph-svg")
    for name in (
        "intrusion-set: Cold Harbour",
        "campaign: Operation Lantern",
        "malware: LanternRAT",
    ):
        assert svg.get_by_text(name, exact=True).count() == 1
    assert svg.locator("g.edge[data-label='attributed-to']").count() == 1
    assert svg.locator("g.edge[data-label='uses']").count() == 1
    assert "C2" not in page.inner_text("main")  # the indicator is three hops away
    assert page.locator("g.node").count() == 3

    malware = svg.locator(f"g.node[data-id='{objs['malware']['id']}']")
    malware.locator("a.expand").click()
    page.wait_for_selector(f"g.node[data-id='{objs['indicator']['id']}']")
    assert svg.get_by_text("indicator: C2", exact=True).count() == 1
    assert svg.locator("g.edge[data-label='indicates']").count() == 1
    assert page.locator("#graph-count").inner_text() == "4"
    assert page.url.endswith(f"/graph/{objs['intrusion-set']['id']}")  # no navigation
    assert page.dialogs == []


def test_partner_never_sees_the_home_amber_strict_object_anywhere(web: Web) -> None:
    objs = chain()
    secret_tool = strict(sdo("tool", "SECRET-TOOL-NAME"))
    # a visible malware linked only by a relationship the partner may not see
    hidden_link = green(sdo("malware", "REACHED-BY-SECRET-LINK"))
    secret_rel = strict(relationship(objs["campaign"]["id"], "secret-link", hidden_link["id"]))
    extra = [
        secret_tool,
        hidden_link,
        green(relationship(objs["campaign"]["id"], "uses", secret_tool["id"])),
        secret_rel,
        sighting(secret_tool["id"], count=7),  # a visible sighting of the secret
    ]
    web.world.load([*objs.values(), *extra])
    root = objs["intrusion-set"]["id"]
    forbidden = ("SECRET-TOOL-NAME", secret_tool["id"], "REACHED-BY-SECRET-LINK", "secret-link")
    forbidden += (hidden_link["id"], secret_rel["id"])

    api = api_graph(web, "partner", root)
    assert api.status_code == 200
    assert labels(api.json()) == {"Cold Harbour", "Operation Lantern", "LanternRAT"}
    with web.client() as client:
        web.sign_in(client, "partner")
        json_page = client.get(f"/graph/{root}.json")
        assert json_page.json() == api.json()
        html = client.get(f"/graph/{root}")
        assert html.status_code == 200 and "LanternRAT" in html.text
        assert '<span id="graph-count">3</span>' in html.text
        for text in (api.text, json_page.text, html.text):
            for word in forbidden:
                assert word not in text
        # the secret itself: the same 404 as an object that does not exist
        unknown = "tool--00000000-0000-4000-8000-000000000000"
        for oid in (secret_tool["id"], unknown):
            assert api_graph(web, "partner", oid).status_code == 404
            assert client.get(f"/graph/{oid}").status_code == 404
            assert client.get(f"/graph/{oid}.json").json() == {
                "error": f"no object {oid}",
                "status": 404,
            }
    # the home organisation's analyst sees all of it
    home = api_graph(web, "same", root).json()
    assert {"SECRET-TOOL-NAME", "REACHED-BY-SECRET-LINK"} <= labels(home)
    assert "secret-link" in {e["label"] for e in home["edges"]}


def test_bad_ids_and_hops_are_refused_with_the_reason(web: Web) -> None:
    objs = chain()
    web.world.load(objs.values())
    root = objs["intrusion-set"]["id"]
    with web.client() as client:
        web.sign_in(client, "same")
        for oid, params, word in (
            ("not-an-id", {}, "STIX identifier"),
            (root, {"hops": "3"}, "hops"),
            (root, {"hops": "0"}, "hops"),
            (root, {"hops": "two"}, "hops"),
        ):
            api = api_graph(web, "same", oid, **params)
            assert api.status_code == 400 and word in api.json()["error"]
            assert api.json()["status"] == 400
            page = client.get(f"/graph/{oid}", params=params)
            assert page.status_code == 400 and word in page.text
            data = client.get(f"/graph/{oid}.json", params=params)
            assert data.status_code == 400 and word in data.json()["error"]
    assert api_graph(web, "same", root, hops="1").json()["nodes"][1]["hop"] == 1
    with httpx.Client(base_url=web.url) as anonymous:
        signed_out = anonymous.get(f"/graph/{root}.json")
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/login"


def test_names_with_markup_are_shown_as_text_drawn_or_expanded(web: Web, browser: Any) -> None:
    objs = chain()
    objs["campaign"]["name"] = XSS[0]
    objs["malware"]["name"] = XSS[1]
    objs["indicator"]["name"] = XSS[2]
    objs["attributed"]["relationship_type"] = "<svg onload=alert(2)>"
    web.world.load(objs.values())
    page = sign_in(browser, web, "partner")
    page.goto(f"{web.url}/graph/{objs['intrusion-set']['id']}")
    page.locator(f"g.node[data-id='{objs['malware']['id']}'] a.expand").click()
    page.wait_for_selector(f"g.node[data-id='{objs['indicator']['id']}']")
    table = page.locator("#graph-objects").inner_text()
    assert XSS[0] in table and XSS[1] in table
    titles = page.locator("#graph-svg g.node title").all_text_contents()
    assert any(XSS[2] in t for t in titles)  # the expanded node, by textContent
    assert page.locator("#graph-svg g.edge text").get_by_text("<svg onload=alert(2)>").count() == 1
    assert page.locator("img").count() == 0
    assert page.locator("main script").count() == 0
    assert page.locator("svg svg").count() == 0
    assert page.dialogs == []
