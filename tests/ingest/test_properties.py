"""Properties of ingest over random input (Hypothesis), on a real SQLite store.

- Round trip: any valid object goes in and comes out byte-equal, as its current version.
- Fuzz: any mix of malformed and valid objects in one bundle gives no crash; every bad one
  is rejected and quarantined verbatim, every good one lands, and the counts add up.
"""

from __future__ import annotations

import json
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mburoja.config import load_settings
from mburoja.ingest.ioc_list import IocOptions
from mburoja.ingest.pipeline import Ingestor
from mburoja.ingest.sources import items_for
from mburoja.stix.model import RawObject
from mburoja.store.sql import open_store
from tests.strategies import malformed_objects, valid_objects

_TMP = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _fresh_store(tmp: Path, name: str):
    cfg = load_settings(environ={}, overrides={"data_dir": str(tmp)})
    return cfg, open_store(f"sqlite:///{tmp / name}.db", initialise=True)


@_TMP
@given(objs=st.lists(valid_objects(), min_size=1, max_size=8, unique_by=lambda o: o["id"]))
def test_valid_objects_come_out_byte_equal(tmp_path_factory, objs: list[dict]) -> None:
    cfg, store = _fresh_store(tmp_path_factory.mktemp("rt"), "rt")
    try:
        raws = [orjson.dumps(o) for o in objs]
        items = [RawObject(r, "hypothesis", i) for i, r in enumerate(raws)]
        report = Ingestor(store, cfg).run(items, source="prop")
        assert report.rejected == 0, report.rejects
        assert report.new == len(objs)
        for obj, raw in zip(objs, raws, strict=True):
            current = store.current(obj["id"])
            assert current is not None and current.raw == raw
    finally:
        store.close()


@_TMP
@given(
    bad=st.lists(malformed_objects(), min_size=1, max_size=6),
    good=st.lists(valid_objects(), min_size=0, max_size=4, unique_by=lambda o: o["id"]),
    order=st.randoms(use_true_random=False),
)
def test_malformed_input_never_crashes_and_every_reject_is_quarantined(
    tmp_path_factory, bad: list, good: list[dict], order
) -> None:
    tmp = tmp_path_factory.mktemp("fuzz")
    cfg, store = _fresh_store(tmp, "fuzz")
    try:
        tagged = [(o, False) for o in bad] + [(o, True) for o in good]
        order.shuffle(tagged)
        objects = [o for o, _ in tagged]
        path = tmp / "fuzz.json"
        # stdlib json: it writes integers of any size, which senders do
        path.write_text(json.dumps({"type": "bundle", "id": "bundle--1", "objects": objects}))
        items = items_for(
            str(path), cfg, fmt="stix", ioc=IocOptions(source="fuzz"), now="2026-01-01T00:00:00Z"
        )
        report = Ingestor(store, cfg).run(items, source="fuzz")
        assert report.received == len(objects)
        assert (
            report.received == report.new + report.new_versions + report.unchanged + report.rejected
        )
        assert report.rejected == len(bad)
        quarantined = store.quarantine_list(limit=1000)
        assert len(quarantined) == len(bad)
        bad_indexes = {i for i, (_, ok) in enumerate(tagged) if not ok}
        assert {q.index for q in quarantined} == bad_indexes
        for q in quarantined:
            assert json.loads(q.raw) == objects[q.index]
            assert q.origin == str(path) and q.field and q.reason
        for obj in good:
            assert store.current(obj["id"]) is not None
    finally:
        store.close()
