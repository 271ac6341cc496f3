"""The bulk generator: a feed-like, valid, reproducible stream of serialised STIX objects."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import orjson
import pytest
from stix2patterns.validator import run_validator

from mburoja.demo.bulk import generate_bulk
from mburoja.stix.identifiers import sco_id
from mburoja.stix.markings import TLP2
from mburoja.stix.validate import validate
from tests.demo.shapes import ID, SCO_TYPES, refs


def bulk(count: int, seed: int = 1) -> list[dict[str, Any]]:
    return [orjson.loads(raw) for raw in generate_bulk(count, seed)]


@pytest.mark.parametrize("count", [0, 1, 2, 3, 4, 21, 1000, 5_000])
def test_bulk_yields_exactly_count_objects(count):
    assert sum(1 for _ in generate_bulk(count)) == count


def test_bulk_is_deterministic_per_seed():
    assert list(generate_bulk(500, seed=5)) == list(generate_bulk(500, seed=5))
    assert list(generate_bulk(500, seed=5)) != list(generate_bulk(500, seed=6))


def test_bulk_mix_is_feed_like():
    objects = bulk(20_000)
    kinds = Counter(
        "sco" if o["type"] in SCO_TYPES else o["type"] if o["type"] in ("indicator", "relationship")
        else "sdo"
        for o in objects
    )  # fmt: skip
    share = {k: v / len(objects) for k, v in kinds.items()}
    assert share["indicator"] == pytest.approx(0.35, abs=0.02)
    assert share["sco"] == pytest.approx(0.35, abs=0.02)
    assert share["relationship"] == pytest.approx(0.25, abs=0.02)
    assert share["sdo"] == pytest.approx(0.05, abs=0.01)
    sdo_types = {o["type"] for o in objects} - SCO_TYPES - {"indicator", "relationship"}
    assert sdo_types == {"malware", "campaign", "identity", "attack-pattern", "report"}
    marked = sum("object_marking_refs" in o for o in objects) / len(objects)
    assert 0.8 < marked < 1.0
    assert any("external_references" in o for o in objects if o["type"] == "indicator")
    assert any(k.startswith("x_") for o in objects for k in o)


def test_bulk_objects_are_valid_and_refer_only_backwards():
    objects = bulk(5000, seed=2)
    seen: set[str] = set(TLP2.values())
    ids = set()
    for obj in objects:
        assert ID.fullmatch(obj["id"]) and obj["spec_version"] == "2.1"
        assert set(refs(obj)) <= seen, obj["id"]
        if obj["type"] not in SCO_TYPES and obj["type"] != "identity":
            assert obj["created_by_ref"] == objects[0]["id"]
        seen.add(obj["id"])
        ids.add(obj["id"])
    assert len(ids) == len(objects)
    patterns = [o["pattern"] for o in objects if o["type"] == "indicator"]
    for pattern in random.Random(1).sample(patterns, 200):
        assert run_validator(pattern, stix_version="2.1") == [], pattern


def test_bulk_observable_ids_are_the_stix_deterministic_ids():
    for obj in bulk(400):
        if obj["type"] in SCO_TYPES:
            props = {k: v for k, v in obj.items() if k not in ("id", "object_marking_refs")}
            assert obj["id"] == sco_id(obj["type"], props)


def test_bulk_passes_the_mburoja_validator():
    errors = [
        (obj["id"], str(issue))
        for obj in bulk(2000, seed=3)
        for issue in validate(obj)
        if issue.level == "error"
    ]
    assert errors == []
