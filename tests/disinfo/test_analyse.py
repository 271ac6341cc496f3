"""``disinfo analyse`` end to end on a real store: generated articles (copies across outlets,
a translation), posts (planted coordinated accounts) and a narrative library go in as STIX;
the findings come out as campaigns tagged with DISARM, and a second run updates them rather
than adding copies. Also the CLI and the REST endpoints over the same store."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import msgspec
import orjson
import pytest
from typer.testing import CliRunner

from mburoja.api.app import create_app
from mburoja.cli.main import app
from mburoja.config import Settings
from mburoja.disinfo import generate, posts
from mburoja.disinfo.analyse import analyse
from mburoja.disinfo.disarm import load_disarm
from mburoja.disinfo.fetch import install_definitions, raw_items
from mburoja.disinfo.findings import FINDINGS_COLLECTION
from mburoja.disinfo.model import Document
from mburoja.disinfo.narratives import Example, NarrativeDraft, add_narrative
from mburoja.disinfo.objects import objects_of
from mburoja.disinfo.stored import stored_objects
from mburoja.graph import neighbourhood
from mburoja.ingest.pipeline import Ingestor
from mburoja.policy import Caller, Policy, Relation
from mburoja.store.sql import SqlStore
from tests.conftest import DATA
from tests.live import serve
from tests.world import build_world, world_settings

NARRATIVE = (
    "NATO is secretly building a nuclear base near the border and the government hides the "
    "contract with the alliance from the citizens"
)


def _store_documents(store: SqlStore, settings: Settings, docs: list[Document]) -> None:
    collection = settings.disinfo.collection
    install_definitions(store, settings, collection)
    objects = [o for d in docs for o in objects_of(d)]
    report = Ingestor(store, settings, workers=0).run(
        raw_items(objects, "test"), source="test", actor="test", collection=collection
    )
    assert report.rejected == 0


def _inputs() -> tuple[generate.Corpus, posts.PostCorpus, Document]:
    corpus = generate.corpus(400, seed=3, languages=("en", "sq", "sr"))
    timeline = posts.generate_posts(posts.spec_for(4000, seed=2))
    first = corpus.documents[0]
    carrier = msgspec.structs.replace(
        first,
        id="mburoja-article--7d7b0b0e-5f59-4c38-9a3e-4f3a4c1d2e01",
        url="https://fresh-news.example/nato-base",
        source="fresh-news.example",
        title="Secret NATO nuclear base near the border",
        text=f"Sources say that {NARRATIVE}. The opposition demands answers.",
        lang="en",
    )
    return corpus, timeline, carrier


@pytest.fixture
def loaded(store: SqlStore, settings: Settings) -> tuple[SqlStore, Settings, dict[str, Any]]:
    store.create_org("CERT-AL", "home")
    assert load_disarm(store, settings, DATA / "disarm" / "DISARM.json").rejected == 0
    corpus, timeline, carrier = _inputs()
    _store_documents(store, settings, [*corpus.documents, *timeline.posts, carrier])
    add_narrative(
        store,
        settings,
        NarrativeDraft(
            title="Secret NATO nuclear base",
            summary="A fabricated claim of a hidden NATO nuclear base.",
            examples=(
                Example("en", NARRATIVE),
                Example("sq", "NATO po ndërton fshehurazi një bazë bërthamore pranë kufirit"),
            ),
            techniques=("T0022",),
        ),
    )
    truth = {
        "family": {c.id: c.origin for c in corpus.copies},
        "published": {d.id: d.published for d in corpus.documents},
        "source_of": {d.id: d.source for d in corpus.documents},
        "account_of": {p.id: p.source for p in timeline.posts},
        "coordinated": timeline.link_coordinated | timeline.text_coordinated,
        "carrier": carrier,
    }
    return store, settings, truth


def _campaigns(store: SqlStore) -> list[dict[str, Any]]:
    cid = store.collection(FINDINGS_COLLECTION)[0]
    return list(stored_objects(store, cid, "campaign"))


def test_analyse_finds_copies_coordination_narratives_and_new_sites_as_stix(
    loaded: tuple[SqlStore, Settings, dict[str, Any]],
) -> None:
    store, settings, truth = loaded
    said: list[str] = []
    now = truth["carrier"].published + 86400.0
    result = analyse(store, settings, now=now, progress=said.append)

    kinds = Counter(f.kind for f in result.findings)
    assert kinds["copies"] > 5 and kinds["coordination"] >= 1 and kinds["narrative"] == 1
    # every copy network of articles is one generated family, at two outlets or more, named
    # after its first publication
    networks = [f for f in result.findings if f.kind == "copies"]
    of_articles = [f for f in networks if f.key.startswith("mburoja-article--")]
    assert len(of_articles) > 5
    family, published = truth["family"], truth["published"]
    for finding in of_articles:
        assert len({family.get(m, m) for m in finding.members}) == 1
        assert len({truth["source_of"][m] for m in finding.members}) >= 2
        assert finding.key == min(finding.members, key=lambda m: (published[m], m))
    # the others are the copy-paste posts of the planted text groups
    for finding in (f for f in networks if f not in of_articles):
        assert {truth["account_of"][m] for m in finding.members} <= truth["coordinated"]
    # the coordinated accounts found are the planted ones
    found = {a.user_id for f in result.findings if f.kind == "coordination" for a in f.accounts}
    assert found and len(found & truth["coordinated"]) / len(found) >= 0.9
    # the narrative is found in the article carrying it, with its technique
    (narrative,) = [f for f in result.findings if f.kind == "narrative"]
    assert truth["carrier"].id in narrative.members and narrative.disarm == ("T0022",)
    # the carrier's outlet appeared a day ago and already carries a known narrative
    assert "fresh-news.example" in result.new_sites
    # progress: one line per stage with counts and a rate
    assert [line.split(":")[0] for line in said] == [
        "read",
        "copies",
        "coordination",
        "narratives",
        "publish",
    ]

    campaigns = _campaigns(store)
    assert len(campaigns) == len(result.findings)
    assert result.stored["rejected"] == 0
    cid = store.collection(FINDINGS_COLLECTION)[0]
    uses = [
        r for r in stored_objects(store, cid, "relationship") if r["relationship_type"] == "uses"
    ]
    targets = {r["target_ref"] for r in uses}
    copypasta = [
        o
        for o in stored_objects(store, store.collection("disarm")[0], "attack-pattern")
        if any(ref.get("external_id") == "T0084.001" for ref in o["external_references"])
    ]
    assert copypasta and copypasta[0]["id"] in targets
    indicators = list(stored_objects(store, cid, "indicator"))
    assert any("fresh-news.example" in i["pattern"] for i in indicators)

    # the graph leads from the narrative to its finding, the carrying article and accounts
    home = store.home_org()
    assert home is not None
    analyst = Caller(org_id=home.id, relation=Relation.SELF)
    graph = neighbourhood(store, Policy(home.id), analyst, narrative.key)
    nodes = {n.id: n for n in graph.nodes}
    assert truth["carrier"].id in nodes and nodes[truth["carrier"].id].hop == 2
    assert any(n.type == "campaign" and n.hop == 1 for n in graph.nodes)
    assert {e.label for e in graph.edges if e.target == narrative.key} >= {"related-to"}

    # a second run updates the same findings: no new campaigns
    again = analyse(store, settings, now=now)
    assert again.stored["new"] == 0 and again.stored["rejected"] == 0
    assert len(_campaigns(store)) == len(campaigns)


def test_analyse_without_disarm_says_how_to_load_it(store: SqlStore, settings: Settings) -> None:
    store.create_org("CERT-AL", "home")
    corpus = generate.corpus(120, seed=5, languages=("en",))
    _store_documents(store, settings, corpus.documents)
    with pytest.raises(Exception, match="mburoja disinfo disarm load"):
        analyse(store, settings)
    # without publishing, the detectors still run
    assert analyse(store, settings, publish_findings=False).findings


def test_the_cli_runs_the_analyses(
    loaded: tuple[SqlStore, Settings, dict[str, Any]],
) -> None:
    store, settings, _truth = loaded
    runner = CliRunner()
    base = ["--data-dir", settings.data_dir, "--store-url", store.url]
    out = runner.invoke(app, [*base, "disinfo", "clusters", "--json"])
    assert out.exit_code == 0, out.output
    clusters = orjson.loads(out.stdout)["clusters"]
    assert clusters and all(len(c["outlets"]) >= 2 for c in clusters)
    out = runner.invoke(app, [*base, "disinfo", "networks", "--json"])
    assert out.exit_code == 0, out.output
    result = orjson.loads(out.stdout)
    assert result["interval"] > 0 and result["components"]
    out = runner.invoke(app, [*base, "disinfo", "analyse", "--json"])
    assert out.exit_code == 0, out.output
    assert orjson.loads(out.stdout)["findings"]
    out = runner.invoke(app, [*base, "disinfo", "clusters", "--since", "yesterday"])
    assert out.exit_code != 0 and "2026-11-01T00:00:00Z" in out.output


def test_the_api_serves_the_analyses_to_the_home_organisation(
    store: SqlStore, settings: Settings
) -> None:
    settings = world_settings(settings)
    world = build_world(store, settings)
    assert load_disarm(store, settings, DATA / "disarm" / "DISARM.json").rejected == 0
    corpus, timeline, _carrier = _inputs()
    _store_documents(store, settings, [*corpus.documents, *timeline.posts])
    app = create_app(settings, store)
    with serve(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        home = {"Authorization": f"Bearer {world.tokens['same']}"}
        partner = {"Authorization": f"Bearer {world.tokens['partner']}"}
        assert client.get("/api/disinfo/clusters").status_code == 401
        assert client.get("/api/disinfo/clusters", headers=partner).status_code == 403
        assert client.post("/api/disinfo/analyse", json={}, headers=partner).status_code == 403
        clusters = client.get("/api/disinfo/clusters", headers=home)
        assert clusters.status_code == 200 and clusters.json()["clusters"]
        networks = client.get("/api/disinfo/networks?interval=30", headers=home)
        assert networks.status_code == 200 and networks.json()["interval"] == 30.0
        bad = client.get("/api/disinfo/networks?interval=soon", headers=home)
        assert bad.status_code == 400 and "interval" in bad.json()["error"]
        done = client.post("/api/disinfo/analyse", json={"publish": True}, headers=home)
        assert done.status_code == 200, done.text
        body = done.json()
        assert body["stored"]["new"] > 0 and body["stored"]["rejected"] == 0
        assert {f["kind"] for f in body["findings"]} >= {"copies", "coordination"}
