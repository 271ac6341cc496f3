"""The demo scenario: coherent, safe, valid and reproducible STIX."""

from __future__ import annotations

import ipaddress
import random
import re
from collections import defaultdict
from typing import Any

import orjson
import pytest
from stix2patterns.validator import run_validator

from mburoja.demo.scenario import DEFAULT_NOW, generate
from mburoja.stix.identifiers import sco_id
from mburoja.stix.markings import TLP2, TLP_LEVEL_BY_ID
from mburoja.stix.validate import validate
from tests.demo.shapes import ID, SCO_TYPES, refs

# Where the demo's indicator values may come from: documentation and benchmarking space only.
SAFE_V4 = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24",
                                             "203.0.113.0/24", "198.18.0.0/15")]  # fmt: skip
SAFE_V6 = ipaddress.ip_network("2001:db8::/32")
SAFE_ASNS = set(range(64496, 64512)) | set(range(65536, 65552))
# The single comparison of a simple pattern, with the literal still escaped.
SIMPLE = re.compile(r"\[([a-z0-9-]+):([^ ]+) = ('(?:[^'\\]|\\.)*'|\d+)")


@pytest.fixture(scope="module")
def scenario() -> list[dict[str, Any]]:
    return generate()


def latest(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each id's last version (the scenario lists versions in order)."""
    return {o["id"]: o for o in objects}


def unescape(literal: str) -> str | int:
    if literal.startswith("'"):
        return re.sub(r"\\(.)", r"\1", literal[1:-1])
    return int(literal)


# --- the story ------------------------------------------------------------------------------


def test_same_seed_gives_identical_output_and_another_seed_differs():
    assert orjson.dumps(generate(3, indicators=50)) == orjson.dumps(generate(3, indicators=50))
    assert generate(3, indicators=50) != generate(4, indicators=50)


def test_generation_leaves_the_global_random_state_alone():
    random.seed(99)
    expected = random.random()
    random.seed(99)
    generate(indicators=20)
    assert random.random() == expected


def test_no_timestamp_lies_after_now_and_now_moves_them():
    now = "2025-03-01T12:00:00.000Z"
    for objects, limit in ((generate(indicators=40, now=now), now), (generate(), DEFAULT_NOW)):
        stamps = [o[k] for o in objects for k in ("created", "modified") if k in o]
        assert max(stamps) <= limit
        assert any(s > "2026-01-01" for s in stamps) == (limit == DEFAULT_NOW)


def test_the_story_has_every_object_type(scenario):
    types = {o["type"] for o in scenario}
    expected = {
        "identity", "location", "intrusion-set", "campaign", "malware", "tool", "infrastructure",
        "attack-pattern", "vulnerability", "report", "indicator", "relationship", "sighting",
        "note", "opinion", "marking-definition",
    }  # fmt: skip
    assert expected <= types
    assert types >= SCO_TYPES


def test_indicator_count_follows_the_argument():
    for count in (0, 1, 25):
        ids = {o["id"] for o in generate(indicators=count) if o["type"] == "indicator"}
        assert len(ids) == count


def test_the_actor_is_fictional_and_described_as_synthetic(scenario):
    (actor,) = [o for o in scenario if o["type"] == "intrusion-set"]
    assert "synthetic" in actor["name"].lower() or "synthetic" in actor["description"].lower()
    assert actor["aliases"] and actor["goals"]
    assert {"resource_level", "primary_motivation"} <= actor.keys()
    cert = next(o for o in scenario if o["type"] == "identity" and "AL-CERT" in o["name"])
    assert "demo" in cert["description"].lower() or "synthetic" in cert["description"].lower()


def test_attack_patterns_carry_attack_ids_and_the_vulnerability_a_cve(scenario):
    ids = {
        ref["external_id"]
        for o in scenario
        if o["type"] == "attack-pattern"
        for ref in o["external_references"]
        if ref["source_name"] == "mitre-attack"
    }
    assert {"T1566.001", "T1486", "T1485", "T1190"} <= ids
    (vuln,) = [o for o in scenario if o["type"] == "vulnerability"]
    assert re.fullmatch(r"CVE-\d{4}-\d{4,}", vuln["external_references"][0]["external_id"])


def test_story_relationships_connect_the_expected_types(scenario):
    by_id = latest(scenario)
    edges = {
        (by_id[r["source_ref"]]["type"], r["relationship_type"], by_id[r["target_ref"]]["type"])
        for r in scenario
        if r["type"] == "relationship"
    }
    for edge in [
        ("campaign", "attributed-to", "intrusion-set"),
        ("intrusion-set", "uses", "malware"),
        ("intrusion-set", "uses", "tool"),
        ("intrusion-set", "uses", "attack-pattern"),
        ("malware", "uses", "infrastructure"),
        ("campaign", "targets", "identity"),
        ("campaign", "targets", "location"),
        ("campaign", "targets", "vulnerability"),
        ("indicator", "indicates", "malware"),
        ("indicator", "indicates", "campaign"),
    ]:
        assert edge in edges
    assert {t for s, rel, t in edges if rel == "based-on"} == SCO_TYPES


# --- validity -------------------------------------------------------------------------------


def test_every_object_has_a_typed_id_and_spec_version_2_1(scenario):
    for obj in scenario:
        match = ID.fullmatch(obj["id"])
        assert match, obj["id"]
        assert match.group(1) == obj["type"]
        assert obj["spec_version"] == "2.1"


def test_sampled_indicator_patterns_pass_the_reference_validator(scenario):
    patterns = sorted({o["pattern"] for o in scenario if o["type"] == "indicator"})
    for pattern in random.Random(0).sample(patterns, min(200, len(patterns))):
        assert run_validator(pattern, stix_version="2.1") == [], pattern


def test_every_reference_names_an_object_in_the_scenario(scenario):
    ids = {o["id"] for o in scenario}
    dangling = {ref for obj in scenario for ref in refs(obj)} - ids
    assert dangling == set()


def test_markings_resolve_to_included_tlp2_definitions_and_use_every_level(scenario):
    definitions = {o["id"] for o in scenario if o["type"] == "marking-definition"}
    assert definitions == set(TLP2.values())
    used = [m for o in scenario for m in o.get("object_marking_refs", [])]
    assert set(used) <= definitions
    assert {TLP_LEVEL_BY_ID[m] for m in used} == set(TLP2)
    unmarked = [o["id"] for o in scenario if "object_marking_refs" not in o]
    assert set(unmarked) == definitions


def test_versions_share_created_and_are_listed_in_modified_order(scenario):
    versions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for obj in scenario:
        if "modified" in obj:
            versions[obj["id"]].append(obj)
    multi = {i: v for i, v in versions.items() if len(v) > 1}
    assert max(len(v) for v in multi.values()) >= 3
    for chain in multi.values():
        assert len({v["created"] for v in chain}) == 1
        modified = [v["modified"] for v in chain]
        assert modified == sorted(modified) and len(set(modified)) == len(modified)
    revoked = [v[-1] for v in multi.values() if v[-1].get("revoked")]
    assert [r["type"] for r in revoked] == ["indicator"]
    assert not any(v.get("revoked") for chain in multi.values() for v in chain[:-1])


def test_time_ranges_are_ordered(scenario):
    for obj in scenario:
        if "valid_until" in obj:
            assert obj["valid_until"] > obj["valid_from"]
        if "last_seen" in obj:
            assert obj["last_seen"] >= obj["first_seen"]
        if "modified" in obj:
            assert obj["modified"] >= obj["created"]


def test_each_indicator_pattern_names_the_value_of_its_observable(scenario):
    by_id = latest(scenario)
    checked = 0
    for rel in scenario:
        if rel["type"] != "relationship" or rel["relationship_type"] != "based-on":
            continue
        indicator, observable = by_id[rel["source_ref"]], by_id[rel["target_ref"]]
        sco_type, path, literal = SIMPLE.match(indicator["pattern"]).groups()
        assert sco_type == observable["type"]
        if sco_type == "file":
            ((algorithm, digest),) = observable["hashes"].items()
            assert path in (f"hashes.{algorithm}", f"hashes.'{algorithm}'")
            assert unescape(literal) == digest
        else:
            assert unescape(literal) == observable.get("value", observable.get("number"))
        checked += 1
    assert checked > 0
    assert any("\\'" in o["pattern"] for o in scenario if o["type"] == "indicator")


def test_observable_ids_are_the_stix_deterministic_ids(scenario):
    for obj in scenario:
        if obj["type"] in SCO_TYPES:
            props = {k: v for k, v in obj.items() if k not in ("id", "object_marking_refs")}
            assert obj["id"] == sco_id(obj["type"], props)


def test_indicator_values_come_only_from_reserved_ranges_and_names(scenario):
    for obj in scenario:
        kind = obj["type"]
        if kind in ("ipv4-addr", "ipv6-addr"):
            net = ipaddress.ip_network(obj["value"], strict=False)
            safe = [SAFE_V6] if kind == "ipv6-addr" else SAFE_V4
            assert any(net.subnet_of(s) for s in safe), obj["value"]
        elif kind == "domain-name":
            assert obj["value"].endswith((".example", ".test"))
        elif kind == "url":
            host = re.match(r"https?://([^/:]+)", obj["value"]).group(1)
            assert host.endswith((".example", ".test"))
        elif kind == "email-addr":
            assert obj["value"].endswith((".example", ".test"))
        elif kind == "autonomous-system":
            assert obj["number"] in SAFE_ASNS


def test_scenario_passes_the_mburoja_validator(scenario):
    errors = [
        (obj["id"], str(issue))
        for obj in scenario
        for issue in validate(obj)
        if issue.level == "error"
    ]
    assert errors == []
