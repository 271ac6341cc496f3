"""DISARM: the real bundle ingests cleanly, detector tags exist, ATT&CK stays apart, and the
advisory suggester is measured on DISARM's incidents as the evaluation script says."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import orjson
import pytest

from mburoja.config import Settings
from mburoja.disinfo.disarm import (
    DISARM_COLLECTION,
    MEASURED,
    TAGS,
    Catalogue,
    Suggester,
    Technique,
    load_disarm,
    suggest_documents,
    tags_for,
)
from mburoja.disinfo.model import Document
from mburoja.errors import NotFound
from mburoja.ingest.pipeline import Ingestor
from mburoja.store.sql import SqlStore
from tests import factories
from tests.conftest import DATA, REPO

BUNDLE = DATA / "disarm" / "DISARM.json"
INCIDENTS = DATA / "disarm" / "incidents"
SCRIPT = REPO / "scripts" / "eval_disarm.py"

sys.path.insert(0, str(REPO / "scripts"))
import eval_disarm  # noqa: E402


def bundle_objects() -> list[dict[str, Any]]:
    return list(orjson.loads(BUNDLE.read_bytes())["objects"])


def bundle_technique_ids() -> dict[str, str]:
    """DISARM id -> STIX id, read straight from the bundle file."""
    return {
        o["external_references"][0]["external_id"]: o["id"]
        for o in bundle_objects()
        if o["type"] == "attack-pattern"
    }


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.from_bundle(BUNDLE.read_bytes())


@pytest.fixture(scope="module")
def suggester(catalogue: Catalogue) -> Suggester:
    return Suggester(catalogue)


# --------------------------------------------------------------------------- loading


def test_the_disarm_bundle_ingests_cleanly_with_its_custom_types(
    store: SqlStore, settings: Settings
) -> None:
    report = load_disarm(store, settings, BUNDLE)

    assert report.adds_up
    assert (report.received, report.new, report.rejected) == (698, 698, 0)
    assert report.rejects == [] and report.warnings == 0
    assert report.dangling_refs == 0
    stats = store.stats()
    assert stats.by_type == {
        "attack-pattern": 391,
        "x-mitre-tactic": 16,
        "relationship": 288,
        "x-mitre-matrix": 1,
        "identity": 1,
        "marking-definition": 1,
    }
    assert stats.quarantined == 0
    disarm = next(c for c in store.collections() if c.alias == DISARM_COLLECTION)
    assert disarm.objects == 698
    again = load_disarm(store, settings, BUNDLE)
    assert (again.new, again.new_versions, again.unchanged) == (0, 0, 698)


def test_lookup_by_disarm_id_gives_the_stored_attack_pattern(
    store: SqlStore, settings: Settings
) -> None:
    load_disarm(store, settings, BUNDLE)
    catalogue = Catalogue.from_store(store)
    expected = bundle_technique_ids()

    assert len(catalogue) == 391 == len(expected)
    assert catalogue.stix_id("T0084.001") == expected["T0084.001"]
    assert catalogue.stix_id(" t0049.003") == expected["T0049.003"]
    for disarm_id, stix_id in expected.items():
        assert catalogue.stix_id(disarm_id) == stix_id
        stored = store.current(stix_id)
        assert stored is not None and stored.type == "attack-pattern"


def test_the_catalogue_without_disarm_loaded_says_how_to_load_it(store: SqlStore) -> None:
    with pytest.raises(NotFound, match="load DISARM first"):
        Catalogue.from_store(store)


# --------------------------------------------------------------------------- ATT&CK apart


def attack_pattern(external_id: str, source: str, url: str, **extra: Any) -> dict[str, Any]:
    return factories.sdo(
        "attack-pattern",
        f"ATT&CK {external_id}",
        created_by_ref="identity--c78cb6e5-0c4b-4611-8297-d1b8b55e40b5",  # The MITRE Corp.
        kill_chain_phases=[{"kill_chain_name": source, "phase_name": "initial-access"}],
        external_references=[{"source_name": source, "external_id": external_id, "url": url}],
        **extra,
    )


def test_attack_techniques_in_the_same_collection_never_resolve_as_disarm(
    store: SqlStore, settings: Settings
) -> None:
    load_disarm(store, settings, BUNDLE)
    phishing = attack_pattern("T1566", "mitre-attack", "https://attack.mitre.org/techniques/T1566")
    ics = attack_pattern("T0817", "mitre-ics-attack", "https://attack.mitre.org/techniques/T0817")
    # an ATT&CK-side object that claims a DISARM id, with the same "mitre-attack" label
    # DISARM's own bundle uses: only DISARM's provenance makes a technique DISARM's
    impostor = attack_pattern(
        "T0084.001", "mitre-attack", "https://attack.mitre.org/techniques/T0084.001"
    )
    raws = [factories.raw(o, "attack.json", i) for i, o in enumerate((phishing, ics, impostor))]
    report = Ingestor(store, settings).run(raws, source="attack", collection=DISARM_COLLECTION)
    assert (report.new, report.rejected) == (3, 0)

    catalogue = Catalogue.from_store(store)

    assert len(catalogue) == 391 and catalogue.skipped == 3
    assert catalogue.get("T1566") is None and "T1566" not in catalogue
    assert catalogue.get("T0817") is None
    with pytest.raises(NotFound, match="T1566"):
        catalogue.stix_id("T1566")
    assert catalogue.stix_id("T0084.001") == bundle_technique_ids()["T0084.001"]
    assert phishing["id"] not in {t.stix_id for t in catalogue}
    # the store does not merge them either: its search indexes no technique ids at all
    assert store.search("T1566").hits == ()
    assert store.search("T0084.001").hits == ()


def test_a_later_disarm_release_with_fresh_ids_wins_the_lookup() -> None:
    objects = bundle_objects()
    old = next(o for o in objects if o.get("name") == "Use Copypasta")
    newer = {
        **old,
        "id": f"attack-pattern--{factories.uid('disarm-next')}",
        "modified": "2026-06-01T00:00:00.000Z",
    }

    catalogue = Catalogue.from_objects([*objects, newer])

    assert catalogue.stix_id("T0084.001") == newer["id"]
    assert catalogue.superseded == 1 and len(catalogue) == 391


# --------------------------------------------------------------------------- tags


@pytest.mark.parametrize("kind", sorted(TAGS))
def test_every_detector_tag_is_a_technique_of_the_bundle(kind: str, catalogue: Catalogue) -> None:
    in_bundle = bundle_technique_ids()
    tagged = catalogue.tags(kind)

    assert [t.disarm_id for t in tagged] == list(tags_for(kind))
    for technique in tagged:
        assert in_bundle[technique.disarm_id] == technique.stix_id


def test_the_tags_are_the_ones_the_issue_names(catalogue: Catalogue) -> None:
    names = {kind: [t.name for t in catalogue.tags(kind)] for kind in TAGS}
    assert names == {
        "copies": ["Use Copypasta"],
        "cross-language": ["Deceptively Labelled or Translated", "Machine Translated Text"],
        "coordination": [
            "Flood Information Space",
            "Bots Amplify via Automated Forwarding and Reposting",
            "Cross-Posting",
        ],
        "narrative": ["Leverage Existing Narratives", "Amplify Existing Narrative"],
        "new-site": ["Establish Inauthentic News Sites"],
    }
    with pytest.raises(ValueError, match="not one of"):
        tags_for("rumour")


# --------------------------------------------------------------------------- suggestions


@pytest.mark.parametrize(
    ("text", "expected", "within"),
    [
        (
            "The same paragraph was copied and pasted word for word across dozens of forums.",
            "T0084.001",
            1,
        ),
        ("A network of bots automatically forwarded and reposted the articles.", "T0049.003", 1),
        ("The article was machine translated from Russian into Serbian.", "T0085.008", 1),
        ("The operation posted the same message to many platforms and groups at once.", "T0119", 3),
    ],
)
def test_the_suggester_ranks_the_technique_a_text_describes(
    suggester: Suggester, text: str, expected: str, within: int
) -> None:
    advice = suggester.suggest(text)
    ranked = [s.disarm_id for s in advice.suggestions]
    assert expected in ranked[:within], ranked


def test_suggestions_are_advisory_and_carry_their_measured_precision(
    suggester: Suggester,
) -> None:
    advice = suggester.suggest("Imposter news websites posing as local newspapers", limit=5)

    assert advice.advisory is True
    assert advice.measured == MEASURED
    assert advice.measured.precision_at_1 > 5 * advice.measured.random_precision_at_1
    assert 0 < len(advice.suggestions) <= 5
    scores = [s.score for s in advice.suggestions]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0
    assert suggester.suggest("").suggestions == ()
    assert suggester.suggest("1234 5678").suggestions == ()


def test_documents_get_suggestions_from_their_lead_in_english_only(
    suggester: Suggester,
) -> None:
    def doc(n: int, lang: str | None, title: str) -> Document:
        return Document(
            id=f"mburoja-article--{factories.uid(str(n))}",
            kind="article",
            source="news.example",
            title=title,
            text="Second paragraph.",
            lang=lang,
        )

    docs = [
        doc(1, "en", "Bots automatically forwarded and reposted the story"),
        doc(2, None, "The article was machine translated"),
        doc(3, "sh", "Botovi su automatski prosleđivali i ponovo objavljivali priču"),
    ]

    advice = suggest_documents(docs, suggester, limit=3)

    assert set(advice) == {docs[0].id, docs[1].id}
    assert advice[docs[0].id].suggestions[0].disarm_id == "T0049.003"
    assert advice[docs[1].id].suggestions[0].disarm_id == "T0085.008"
    assert all(a.advisory and len(a.suggestions) <= 3 for a in advice.values())
    assert suggester.rank_many([d.lead for d in docs[:2]], 3) == [
        list(advice[d.id].suggestions) for d in docs[:2]
    ]


def test_suggestions_name_disarm_techniques_only(suggester: Suggester) -> None:
    ids = bundle_technique_ids()
    advice = suggester.suggest("phishing e-mail with a malicious attachment", limit=10)
    for s in advice.suggestions:
        assert ids[s.disarm_id] == s.stix_id


# --------------------------------------------------------------------------- evaluation


def test_the_incident_parser_finds_the_tables_and_only_quoted_text() -> None:
    parsed = eval_disarm.parse_incidents(INCIDENTS)

    assert (parsed.files, parsed.with_tables) == (129, 62)  # as the data's README says
    assert parsed.rows == 256
    assert len(parsed.passages) == 93
    for p in parsed.passages:
        assert p.text and p.techniques
        # the commentary names the technique: none of it may reach the suggester
        assert eval_disarm._TECHNIQUE_ID.search(p.text) is None
        assert "In this example" not in p.text and "This behaviour matches" not in p.text
        assert "<" not in p.text


def test_a_cell_with_an_unclosed_italic_tag_keeps_the_quote_and_drops_the_commentary() -> None:
    cell = (
        " <i>“They launched the site blackmatters.”<i><br><br> In this example an asset "
        "presented itself as a news outlet (T0097.202: News Outlet Persona). "
    )
    parsed = eval_disarm.Parsed()
    spans = [eval_disarm.clean(s, parsed) for s in eval_disarm.quoted_spans(cell)]
    assert [s for s in spans if s] == ["They launched the site blackmatters."]


def test_the_evaluation_script_prints_p_at_1_and_recall_at_10_on_a_subset() -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--limit", "8", "--draws", "3"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    out = run.stdout
    assert "P@1" in out and "Recall@10" in out
    assert "with technique tables: 8" in out
    suggester_line = next(line for line in out.splitlines() if line.startswith("suggester"))
    random_line = next(line for line in out.splitlines() if line.startswith("random (3 draws"))
    p1, r10 = map(float, suggester_line.split()[1:3])
    assert 0.0 <= p1 <= 1.0 and 0.0 < r10 <= 1.0
    assert float(random_line.split()[-2]) < p1 or p1 == 0.0

    as_json = subprocess.run(
        [sys.executable, str(SCRIPT), "--limit", "8", "--draws", "3", "--json"],
        capture_output=True,
        check=True,
        timeout=120,
    )
    figures = orjson.loads(as_json.stdout)
    assert figures["incidents_with_tables"] == 8 and figures["passages"] >= 8
    assert figures["candidates"] == 391 and figures["unknown_techniques"] == 0


def test_the_measured_precision_shown_is_what_the_evaluation_measures() -> None:
    e = eval_disarm.evaluate(INCIDENTS, BUNDLE, draws=20, seed=0)
    f = e.figures()

    assert (f["passages"], f["incidents"]) == (MEASURED.passages, MEASURED.incidents)
    assert f["precision_at_1"] == MEASURED.precision_at_1
    assert f["recall_at_10"] == MEASURED.recall_at_10
    assert f["random_precision_at_1"] == MEASURED.random_precision_at_1
    assert f["random_recall_at_10"] == MEASURED.random_recall_at_10
    # the suggester beats both references by a wide margin
    assert e.precision_at_1 > 10 * e.expected_random_precision_at_1
    assert e.precision_at_1 > e.prior_precision_at_1
    assert e.recall_at_10 > e.prior_recall_at_10


def test_a_technique_carries_its_name_description_and_disarm_tactic(
    catalogue: Catalogue,
) -> None:
    t = catalogue.technique("T0098")
    assert isinstance(t, Technique)
    assert (t.name, t.phases) == ("Establish Inauthentic News Sites", ("establish-legitimacy",))
    assert "news sites" in t.description
