"""The disinformation pages, end to end: generated articles (one planted copy-paste family,
background news, a partner's TLP:RED copy), generated posts with coordinated accounts and a
narrative go in as STIX through the real ingest; the home analyst opens a cluster in
Chromium and shares it as a STIX finding. Also: CSRF, other organisations, escaping."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson
import pytest

from mburoja.disinfo import generate, posts
from mburoja.disinfo.disarm import load_disarm
from mburoja.disinfo.fetch import install_definitions, raw_items
from mburoja.disinfo.findings import FINDINGS_COLLECTION
from mburoja.disinfo.model import Document
from mburoja.disinfo.narratives import Example, NarrativeDraft, add_narrative
from mburoja.disinfo.objects import article_id, objects_of
from mburoja.disinfo.stored import stored_objects
from mburoja.ingest.pipeline import Ingestor
from mburoja.stix.markings import TLP2
from tests.conftest import DATA
from tests.web.conftest import SECRET_NAME, XSS, Web, csrf_of, sign_in

#: the partner's TLP:RED copy: published first of all, so it would be patient zero if leaked
HIDDEN_OUTLET = "hidden-red.example"
SECRET_TITLE = "home amber strict article title"


@dataclass
class Seeded:
    family: list[Document]
    patient_zero: Document
    xss_copy: Document
    coordinated: frozenset[str]
    narrative: str


def _store(web: Web, docs: list[Document], *, owner: str | None = None, tlp: str = "clear") -> None:
    store, settings = web.world.store, web.world.settings
    collection = settings.disinfo.collection
    install_definitions(store, settings, collection)
    objects = [o for d in docs for o in objects_of(d, markings=[TLP2[tlp]])]
    report = Ingestor(store, settings, workers=0).run(
        raw_items(objects, "test"), source="test", collection=collection, owner=owner
    )
    assert report.rejected == 0, report.rejects[:3]


def _copy(original: Document, rng: random.Random, outlet: str, lag_h: float) -> Document:
    return generate.edited_copy(original, 0.02, rng, outlet=outlet, lag_s=lag_h * 3600)


@pytest.fixture
def seeded(web: Web) -> Seeded:
    store, settings = web.world.store, web.world.settings
    assert load_disarm(store, settings, DATA / "disarm" / "DISARM.json").rejected == 0
    rng = random.Random(4)
    background = generate.articles(30, seed=5, languages=("en",))
    original = generate.articles(1, seed=11, languages=("en",))[0]
    copies = [_copy(original, rng, f"copy{i}.example", lag) for i, lag in enumerate((-2, 3, 9))]
    payload = XSS[0]
    xss = msgspec.structs.replace(
        _copy(original, rng, "xss.example", 5), source_name=payload, title=XSS[1]
    )
    family = [original, *copies, xss]
    secret = msgspec.structs.replace(
        _copy(original, rng, "secret.example", 7),
        title=SECRET_TITLE,
        url="https://secret.example/amber-strict",
        id=article_id("https://secret.example/amber-strict"),
    )
    # no links: the url SCOs are the home organisation's already
    hidden = msgspec.structs.replace(_copy(original, rng, HIDDEN_OUTLET, -30), urls=())
    timeline = posts.generate_posts(posts.spec_for(3000, seed=2))
    _store(web, [*background, *family, *timeline.posts])
    _store(web, [secret], tlp="amber+strict")
    _store(web, [hidden], owner=web.world.orgs["partner"], tlp="red")
    family.append(secret)  # the home organisation sees its own AMBER+STRICT copy
    add_narrative(
        store,
        settings,
        NarrativeDraft(
            title="Planted narrative <b>bold</b>",
            summary="The planted family's claim.",
            examples=(Example("en", original.lead),),
            techniques=("T0022",),
        ),
    )
    zero = min(family, key=lambda d: d.published or 0.0)
    return Seeded(family, zero, xss, timeline.link_coordinated, "Planted narrative <b>bold</b>")


def _campaigns(web: Web) -> list[dict[str, Any]]:
    store = web.world.store
    try:
        cid = store.collection(FINDINGS_COLLECTION)[0]
    except Exception:
        return []
    return list(stored_objects(store, cid, "campaign"))


def test_open_a_disinformation_cluster_and_share_it_as_a_finding(
    browser: Any, web: Web, seeded: Seeded
) -> None:
    page = sign_in(browser, web, "same")
    page.goto(f"{web.url}/disinfo")
    assert page.locator("h1").inner_text() == "Disinformation"
    link = page.locator(f'a.cluster-link[href="/disinfo/clusters/{seeded.patient_zero.id}"]')
    assert link.count() == 1
    link.click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/disinfo/clusters/{seeded.patient_zero.id}")

    shown = set(page.locator("tr.member").evaluate_all("rows => rows.map(r => r.dataset.id)"))
    assert shown == {d.id for d in seeded.family}
    zero = page.locator("tr.member.zero")
    assert zero.count() == 1
    assert zero.get_attribute("data-id") == seeded.patient_zero.id
    assert page.locator(".zero-outlet").inner_text() == seeded.patient_zero.source
    svg = page.locator("#timeline svg")
    assert svg.count() == 1
    assert page.locator("#timeline svg circle").count() == len(seeded.family)
    assert page.locator("#timeline svg circle.pz").count() == 1
    lanes = page.locator("#timeline svg text.lane").all_text_contents()
    assert sorted(lanes) == sorted({d.source for d in seeded.family})
    assert "T0084.001" in page.locator("#disarm").inner_text()
    assert "Use Copypasta" in page.locator("#disarm").inner_text()
    assert HIDDEN_OUTLET not in page.content()

    page.select_option("select[name=tlp]", "green")
    page.click("form.share button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Finding stored"
    ids = page.locator("#created a").all_inner_texts()
    campaign = [i for i in ids if i.startswith("campaign--")]
    assert len(campaign) == 1
    stored = web.world.store.current(campaign[0])
    assert stored is not None and stored.tlp == "green"
    body = orjson.loads(stored.raw)
    assert body["labels"] == ["disinformation", "copies"]
    report = next(i for i in ids if i.startswith("report--"))
    refs = set(orjson.loads(web.world.store.current(report).raw)["object_refs"])  # type: ignore[union-attr]
    assert {d.id for d in seeded.family} <= refs
    for object_id in ids:
        assert web.world.store.current(object_id) is not None
        assert page.locator(f'a[href="/objects/{object_id}"]').count() == 1
    assert page.dialogs == []

    # the cluster page now says it is stored; sharing again makes no new objects
    page.goto(f"{web.url}/disinfo/clusters/{seeded.patient_zero.id}")
    assert campaign[0] in page.locator("p.stored").inner_text()


def test_sharing_without_the_csrf_token_is_refused_and_stores_nothing(
    web: Web, seeded: Seeded
) -> None:
    with web.client() as client:
        assert web.sign_in(client, "same").status_code == 303
        page = client.get(f"/disinfo/clusters/{seeded.patient_zero.id}")
        assert page.status_code == 200
        version = re.search(r'name="version" value="([0-9a-f]{16})"', page.text)
        assert version is not None
        url = f"/disinfo/clusters/{seeded.patient_zero.id}/share"
        refused = client.post(url, data={"tlp": "amber", "version": version.group(1)})
        assert refused.status_code == 403
        wrong = client.post(url, data={"csrf": "x" * 43, "tlp": "amber"})
        assert wrong.status_code == 403
        assert _campaigns(web) == []
        bad = client.post(url, data={"csrf": csrf_of(page.text), "tlp": "purple"})
        assert bad.status_code == 400 and "tlp" in bad.text
        assert _campaigns(web) == []
        done = client.post(url, data={"csrf": csrf_of(page.text), "tlp": "amber"})
        assert done.status_code == 200
        assert len(_campaigns(web)) == 1


def test_a_stale_cluster_version_is_refused(web: Web, seeded: Seeded) -> None:
    with web.client() as client:
        web.sign_in(client, "same")
        page = client.get(f"/disinfo/clusters/{seeded.patient_zero.id}")
        stale = client.post(
            f"/disinfo/clusters/{seeded.patient_zero.id}/share",
            data={"csrf": csrf_of(page.text), "tlp": "amber", "version": "0" * 16},
        )
        assert stale.status_code == 400
        assert "changed since it was shown" in stale.text
        assert _campaigns(web) == []


@pytest.mark.parametrize(
    "path", ["/disinfo", "/disinfo/networks", "/disinfo/narratives", "/disinfo/clusters/{zero}"]
)
def test_other_organisations_get_403_and_see_nothing(web: Web, seeded: Seeded, path: str) -> None:
    for who in ("partner", "client", "community", "stranger"):
        with web.client() as client:
            web.sign_in(client, who)
            response = client.get(path.format(zero=seeded.patient_zero.id))
            assert response.status_code == 403, who
            for secret in (SECRET_TITLE, SECRET_NAME, seeded.patient_zero.title):
                assert secret not in response.text


def test_a_partner_cannot_share_a_cluster(web: Web, seeded: Seeded) -> None:
    with web.client() as client:
        web.sign_in(client, "partner")
        token = csrf_of(client.get("/").text)
        response = client.post(
            f"/disinfo/clusters/{seeded.patient_zero.id}/share",
            data={"csrf": token, "tlp": "clear"},
        )
        assert response.status_code == 403
    assert _campaigns(web) == []


def test_xss_in_titles_and_outlet_names_renders_inert(
    browser: Any, web: Web, seeded: Seeded
) -> None:
    page = sign_in(browser, web, "same")
    page.goto(f"{web.url}/disinfo/clusters/{seeded.patient_zero.id}")
    row = page.locator(f'tr.member[data-id="{seeded.xss_copy.id}"]')
    assert row.locator("td.outlet").inner_text() == XSS[0]
    assert row.locator("td.title").inner_text() == XSS[1]
    assert page.locator("main img").count() == 0
    assert page.locator("main script").count() == 0
    page.goto(f"{web.url}/disinfo/narratives")
    assert page.locator("section.narrative h2").first.inner_text().startswith(seeded.narrative)
    assert page.locator("section.narrative h2 b").count() == 0
    page.goto(f"{web.url}/disinfo")
    assert page.locator("main img, main script, main b").count() == 0
    assert page.dialogs == []


def test_networks_draw_the_coordinated_accounts_as_a_graph(web: Web, seeded: Seeded) -> None:
    with web.client() as client:
        web.sign_in(client, "same")
        response = client.get("/disinfo/networks")
    assert response.status_code == 200
    graphs = re.findall(r'<figure class="disinfo-graph".*?</figure>', response.text, re.DOTALL)
    assert graphs
    drawn = set(re.findall(r"<circle [^>]*><title>[^<]*\(([^)]+)\):", "".join(graphs)))
    # the generator's planted link-sharing accounts are found and drawn
    assert seeded.coordinated <= drawn


def test_narratives_list_the_matching_documents_and_their_cluster(web: Web, seeded: Seeded) -> None:
    with web.client() as client:
        web.sign_in(client, "same")
        response = client.get("/disinfo/narratives")
        overview = client.get("/disinfo")
    assert response.status_code == 200
    assert f'href="/disinfo/clusters/{seeded.patient_zero.id}"' in response.text
    count = re.search(r'<span class="match-count">(\d+)</span>', response.text)
    assert count is not None and int(count.group(1)) >= len(seeded.family)
    assert "T0022" in response.text
    assert overview.status_code == 200
    assert "Planted narrative &lt;b&gt;bold&lt;/b&gt;" in overview.text
    assert HIDDEN_OUTLET not in overview.text + response.text


def test_the_share_api_stores_the_finding_for_home_analysts_only(web: Web, seeded: Seeded) -> None:
    body = {"cluster": seeded.patient_zero.id, "tlp": "amber"}
    with web.world.client("partner") as partner:
        assert partner.post("/api/disinfo/findings", json=body).status_code == 403
    assert _campaigns(web) == []
    with web.world.client("same") as client:
        missing = client.post("/api/disinfo/findings", json={"cluster": "mburoja-article--x"})
        assert missing.status_code == 404
        bad = client.post("/api/disinfo/findings", json={**body, "tlp": "purple"})
        assert bad.status_code == 400 and "tlp" in bad.json()["error"]
        stale = client.post("/api/disinfo/findings", json={**body, "version": "0" * 16})
        assert stale.status_code == 409
        done = client.post("/api/disinfo/findings", json=body)
    assert done.status_code == 200
    answer = done.json()
    assert answer["stored"]["rejected"] == 0 and answer["tlp"] == "amber"
    for obj in answer["objects"]:
        assert web.world.store.current(obj["id"]) is not None
    assert [c["id"] for c in _campaigns(web)] == [
        o["id"] for o in answer["objects"] if o["type"] == "campaign"
    ]
