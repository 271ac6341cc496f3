"""Findings as STIX: valid for the stix2 reference library, core types only, TLP on
everything, stored through the real ingest pipeline, re-runs make versions not duplicates,
and the store's search finds a finding's domain."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import orjson
import pytest
import stix2

from mburoja.config import Settings
from mburoja.disinfo.disarm import Catalogue, load_disarm
from mburoja.disinfo.findings import (
    FINDINGS_COLLECTION,
    Account,
    Finding,
    finding_objects,
    findings_bundle,
    publish,
)
from mburoja.errors import ConfigError, NotFound
from mburoja.stix.markings import TLP2
from mburoja.store.sql import SqlStore
from tests import factories
from tests.conftest import DATA

BUNDLE = DATA / "disarm" / "DISARM.json"
IDENTITY = f"identity--{factories.uid('cert-al')}"
T1 = "2026-02-01T10:00:00.000000Z"
T2 = "2026-02-02T10:00:00.000000Z"
T3 = "2026-02-03T10:00:00.000000Z"
#: STIX 2.1 core types a finding may contain (plus the TLP marking definition)
CORE = {
    "campaign",
    "report",
    "relationship",
    "indicator",
    "note",
    "url",
    "domain-name",
    "user-account",
    "marking-definition",
}


def post_id(n: int) -> str:
    return f"mburoja-post--{factories.uid(f'post-{n}')}"


def coordination(**changes: Any) -> Finding:
    finding = Finding(
        kind="coordination",
        title="Coordinated sharing of vesti-balkan.example links",
        key="network:acc-1001",
        description="Three accounts shared the same links within 20 seconds, 14 times.",
        members=(post_id(1), post_id(2), post_id(3)),
        accounts=(
            Account(user_id="1001", login="patriot_al", platform="twitter"),
            Account(user_id="1002", login="glas_naroda", display_name="Глас народа"),
        ),
        urls=("https://vesti-balkan.example/2026/02/nato-base", "https://t.example/x1"),
        domains=("Vesti-Balkan.example.",),
        first_seen=1769940000.0,
        last_seen=1769943600.0,
        evidence=("1001 and 1002 shared https://vesti-balkan.example/2026/02/nato-base 4 s apart",),
        disarm=("T0097.202",),
        confidence=70,
    )
    return msgspec.structs.replace(finding, **changes)


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.from_bundle(BUNDLE.read_bytes())


@pytest.fixture
def home_store(store: SqlStore, settings: Settings) -> Iterator[SqlStore]:
    """A store with the home organisation and DISARM loaded."""
    store.create_org("CERT-AL", "home")
    assert load_disarm(store, settings, BUNDLE).rejected == 0
    yield store


def by_type(objects: list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["type"] == type_]


# --------------------------------------------------------------------------- the objects


def test_a_finding_is_valid_stix_21_for_the_reference_library_without_customs(
    catalogue: Catalogue,
) -> None:
    objects = finding_objects(coordination(), identity=IDENTITY, catalogue=catalogue, now=T1)
    bundle = findings_bundle(objects)

    # Strict (allow_custom=False): every type and property is STIX 2.1 core. The library's
    # strict mode also refuses a *reference* to a type it has not registered, and the
    # report names the posts by their extension-defined type (mburoja-post), so the report
    # is checked strictly without those references, then whole with allow_custom=True.
    core_refs = [r for r in _report(objects)["object_refs"] if not r.startswith("mburoja-")]
    strict = [o if o["type"] != "report" else {**o, "object_refs": core_refs} for o in objects]
    parsed = stix2.parse(
        orjson.dumps({**bundle, "objects": [bundle["objects"][0], *strict]}).decode(),
        allow_custom=False,
    )
    assert len(parsed.objects) == len(objects) + 1
    assert {o["type"] for o in bundle["objects"]} <= CORE
    whole = stix2.parse(orjson.dumps(bundle).decode(), allow_custom=True)
    assert len(whole.objects) == len(objects) + 1


def _report(objects: list[dict[str, Any]]) -> dict[str, Any]:
    [report] = by_type(objects, "report")
    return report


def test_a_finding_has_a_campaign_a_report_and_uses_relationships_to_disarm(
    catalogue: Catalogue,
) -> None:
    objects = finding_objects(coordination(), identity=IDENTITY, catalogue=catalogue, now=T1)
    [campaign] = by_type(objects, "campaign")
    [report] = by_type(objects, "report")

    uses = {
        r["target_ref"]
        for r in by_type(objects, "relationship")
        if r["relationship_type"] == "uses" and r["source_ref"] == campaign["id"]
    }
    expected = {catalogue.stix_id(t) for t in ("T0049", "T0049.003", "T0119", "T0097.202")}
    assert uses == expected
    assert campaign["first_seen"] == "2026-02-01T10:00:00.000Z"
    assert campaign["last_seen"] == "2026-02-01T11:00:00.000Z"
    assert campaign["confidence"] == 70
    refs = set(report["object_refs"])
    assert {o["id"] for o in objects if o is not report} <= refs
    assert {post_id(1), post_id(2), post_id(3)} <= refs
    assert expected <= refs
    assert report["report_types"] == ["campaign"]
    assert all(o["created_by_ref"] == IDENTITY for o in objects if "created" in o)


def test_domains_become_indicators_with_stix_patterns_that_indicate_the_campaign(
    catalogue: Catalogue,
) -> None:
    objects = finding_objects(coordination(), identity=IDENTITY, catalogue=catalogue, now=T1)
    [indicator] = by_type(objects, "indicator")
    [campaign] = by_type(objects, "campaign")

    assert indicator["pattern"] == "[domain-name:value = 'vesti-balkan.example']"
    assert indicator["pattern_type"] == "stix"
    assert indicator["indicator_types"] == ["attribution"]
    assert any(
        r["relationship_type"] == "indicates"
        and (r["source_ref"], r["target_ref"]) == (indicator["id"], campaign["id"])
        for r in by_type(objects, "relationship")
    )
    [domain] = by_type(objects, "domain-name")
    assert domain["value"] == "vesti-balkan.example"
    assert {u["value"] for u in by_type(objects, "url")} == set(coordination().urls)
    logins = {a.get("account_login") for a in by_type(objects, "user-account")}
    assert logins == {"patriot_al", "glas_naroda"}


@pytest.mark.parametrize("tlp", ["amber", "green", "red"])
def test_every_object_carries_the_findings_tlp_marking(catalogue: Catalogue, tlp: str) -> None:
    given_sco = factories.sco("url", "https://given.example/")
    finding = coordination(objects=(given_sco,))
    objects = finding_objects(finding, identity=IDENTITY, catalogue=catalogue, now=T1, tlp=tlp)

    for obj in objects:
        assert obj["object_marking_refs"] == [TLP2[tlp]], obj["type"]
    assert findings_bundle(objects, tlp)["objects"][0]["id"] == TLP2[tlp]


def test_the_default_marking_is_tlp_amber(catalogue: Catalogue) -> None:
    objects = finding_objects(coordination(), identity=IDENTITY, catalogue=catalogue, now=T1)
    assert {m for o in objects for m in o["object_marking_refs"]} == {TLP2["amber"]}


def test_ids_are_the_same_for_the_same_identity_and_key_and_differ_otherwise(
    catalogue: Catalogue,
) -> None:
    def ids(finding: Finding, identity: str = IDENTITY) -> set[str]:
        objects = finding_objects(finding, identity=identity, catalogue=catalogue, now=T1)
        return {o["id"] for o in objects if "created" in o}

    same = ids(coordination())
    # what a finding contains may change from run to run; its key keeps it the same finding
    assert ids(coordination(title="renamed", members=(post_id(9),))) == same
    assert ids(coordination(key="network:acc-2002")).isdisjoint(same)
    assert ids(coordination(), f"identity--{factories.uid('ally')}").isdisjoint(same)


def test_a_bad_finding_is_refused_with_the_reason(catalogue: Catalogue) -> None:
    def make(**changes: Any) -> None:
        finding_objects(coordination(**changes), identity=IDENTITY, catalogue=catalogue)

    with pytest.raises(NotFound, match="T1566"):
        make(disarm=("T1566",))
    with pytest.raises(ValueError, match="not one of"):
        make(kind="rumour")
    with pytest.raises(ValueError, match="last_seen is before first_seen"):
        make(first_seen=2.0, last_seen=1.0)
    with pytest.raises(ValueError, match="not a domain"):
        make(domains=("evil.example/path",))
    with pytest.raises(ValueError, match="TLP"):
        finding_objects(coordination(), identity=IDENTITY, catalogue=catalogue, tlp="pink")


# --------------------------------------------------------------------------- in the store


def test_a_finding_is_stored_through_the_ingest_pipeline_without_rejects(
    home_store: SqlStore, settings: Settings
) -> None:
    catalogue = Catalogue.from_store(home_store)
    published = publish(home_store, settings, [coordination()], catalogue=catalogue, now=T1)

    report = published.report
    assert report.adds_up and report.rejected == 0 and report.warnings == 0
    assert report.received == len(published.objects) + 1  # and the TLP marking definition
    identity = home_store.home_identity()
    for obj in published.objects:
        stored = home_store.current(obj["id"])
        assert stored is not None, obj["id"]
        assert stored.tlp == "amber"
        if "created" in obj:
            assert stored.created_by == identity
    collection = next(c for c in home_store.collections() if c.alias == FINDINGS_COLLECTION)
    assert collection.objects == report.received


def test_the_stores_search_finds_a_findings_domain(
    home_store: SqlStore, settings: Settings
) -> None:
    catalogue = Catalogue.from_store(home_store)
    published = publish(home_store, settings, [coordination()], catalogue=catalogue, now=T1)
    [indicator] = by_type(published.objects, "indicator")
    [domain] = by_type(published.objects, "domain-name")

    result = home_store.search("vesti-balkan.example")

    hits = {h.id: h for h in result.hits}
    assert {indicator["id"], domain["id"]} <= set(hits)
    assert hits[indicator["id"]].tlp == "amber"
    # and a URL of the finding is found by its host too
    url_hits = home_store.search("https://vesti-balkan.example/2026/02/nato-base").hits
    assert indicator["id"] in {h.id for h in url_hits}


def test_rerunning_an_analysis_gives_new_versions_not_duplicates(
    home_store: SqlStore, settings: Settings
) -> None:
    catalogue = Catalogue.from_store(home_store)
    first = publish(home_store, settings, [coordination()], catalogue=catalogue, now=T1)
    [campaign] = by_type(first.objects, "campaign")
    [report] = by_type(first.objects, "report")
    objects_before = home_store.stats().objects

    same = publish(home_store, settings, [coordination()], catalogue=catalogue, now=T2)
    assert (same.report.new, same.report.new_versions) == (0, 0)
    assert same.report.unchanged == same.report.received

    grown = coordination(
        members=(post_id(1), post_id(2), post_id(3), post_id(4)), last_seen=1769950000.0
    )
    again = publish(home_store, settings, [grown], catalogue=catalogue, now=T3)

    assert again.report.rejected == 0
    assert again.report.new == 0  # same ids: the post is referenced, not stored here
    assert again.report.new_versions == 2  # the campaign (last_seen) and the report (refs)
    assert home_store.stats().objects == objects_before
    versions = home_store.versions(campaign["id"])
    assert sorted(v.version for v in versions) == [T1, T3]
    latest = orjson.loads(home_store.current(campaign["id"]).raw)  # type: ignore[union-attr]
    assert latest["created"] == T1 and latest["modified"] == T3
    assert latest["last_seen"] == "2026-02-01T12:46:40.000Z"
    stored_report = orjson.loads(home_store.current(report["id"]).raw)  # type: ignore[union-attr]
    assert stored_report["published"] == T1 and post_id(4) in stored_report["object_refs"]
    assert len(home_store.search("vesti-balkan.example").hits) == 2  # one indicator, one SCO


def test_publishing_needs_the_home_organisation(store: SqlStore, settings: Settings) -> None:
    with pytest.raises(ConfigError, match="home organisation"):
        publish(store, settings, [coordination()], catalogue=Catalogue([]))


def test_a_new_version_is_later_than_the_stored_one_whatever_the_clock_says(
    home_store: SqlStore, settings: Settings
) -> None:
    catalogue = Catalogue.from_store(home_store)
    publish(home_store, settings, [coordination()], catalogue=catalogue, now=T2)

    later = publish(
        home_store, settings, [coordination(confidence=90)], catalogue=catalogue, now=T1
    )

    [campaign] = by_type(later.objects, "campaign")
    assert campaign["created"] == T2 and campaign["modified"] == "2026-02-02T10:00:00.000001Z"
    current = home_store.current(campaign["id"])
    assert current is not None and orjson.loads(current.raw)["confidence"] == 90
