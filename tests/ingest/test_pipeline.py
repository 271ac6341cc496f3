"""The ingest pipeline end to end on real data: counts, round trips, rejects and limits."""

from __future__ import annotations

from pathlib import Path

import msgspec
import orjson
import pytest

from mburoja.config import Settings
from mburoja.errors import InputTooLarge
from mburoja.ingest.ioc_list import IocOptions
from mburoja.ingest.pipeline import Ingestor, IngestReport
from mburoja.ingest.sources import items_for
from mburoja.store.sql import SqlStore
from tests.conftest import MISP_EXAMPLES, STIX_EXAMPLES
from tests.factories import bundle, indicator, sco

NOW = "2026-11-22T10:00:00.000Z"


def ingest(store: SqlStore, settings: Settings, spec: str, fmt: str = "auto", **kw) -> IngestReport:
    ioc = IocOptions(source=kw.pop("source", spec))
    items = items_for(spec, settings, fmt=fmt, ioc=ioc, now=NOW)
    return Ingestor(store, settings, batch_size=kw.pop("batch_size", None)).run(
        items, source=ioc.source, **kw
    )


def assert_adds_up(report: IngestReport) -> None:
    total = report.new + report.new_versions + report.unchanged + report.rejected
    assert report.received == total, report


@pytest.mark.parametrize("path", sorted(STIX_EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_stix_example_ingests_without_rejects_and_round_trips_byte_equal(
    store: SqlStore, settings: Settings, path: Path
) -> None:
    report = ingest(store, settings, str(path))
    assert report.rejected == 0, report.rejects
    assert_adds_up(report)
    source_bytes = path.read_bytes()
    parsed = orjson.loads(source_bytes)
    expected = parsed["objects"] if parsed["type"] == "bundle" else [parsed]
    for obj in expected:
        versions = store.versions(obj["id"])
        stored = next(v for v in versions if orjson.loads(v.raw) == obj)
        # exact bytes: the stored text is a verbatim slice of the file
        assert stored.raw in source_bytes


@pytest.mark.parametrize("path", sorted(MISP_EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_misp_example_ingests_without_rejects(
    store: SqlStore, settings: Settings, path: Path
) -> None:
    report = ingest(store, settings, str(path))
    assert report.rejected == 0, report.rejects
    assert report.new > 0
    assert_adds_up(report)


def test_the_same_input_twice_changes_nothing_the_second_time(
    store: SqlStore, settings: Settings
) -> None:
    first = ingest(store, settings, str(STIX_EXAMPLES / "apt1.json"))
    before = store.stats()
    second = ingest(store, settings, str(STIX_EXAMPLES / "apt1.json"))
    assert second.unchanged == second.received == first.received
    assert second.new == second.new_versions == 0
    after = store.stats()
    assert (after.objects, after.versions, after.observables) == (
        before.objects,
        before.versions,
        before.observables,
    )


def test_ioc_list_twice_is_idempotent(store: SqlStore, settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "iocs.txt"
    path.write_text("evil[.]example\nhxxp://bad.example/x\n198.51.100.7\n")
    first = ingest(store, settings, str(path))
    assert first.new > 0 and first.rejected == 0
    second = ingest(store, settings, str(path))
    assert second.unchanged == second.received and second.new == second.new_versions == 0


def test_good_objects_land_beside_bad_ones_and_each_reject_names_its_place(
    store: SqlStore, settings: Settings, tmp_path: Path
) -> None:
    good = [indicator(), sco("domain-name", "fine.example"), indicator()]
    bad_pattern = indicator("[domain-name:value = 'unterminated]")
    bad_time = indicator(created="2026-13-01T00:00:00Z")
    path = tmp_path / "mixed.json"
    path.write_bytes(bundle(good[0], bad_pattern, good[1], bad_time, good[2]))
    report = ingest(store, settings, str(path))
    assert (report.new, report.rejected) == (3, 2)
    assert_adds_up(report)
    for obj in good:
        assert store.current(obj["id"]) is not None
    by_index = {r.index: r for r in report.rejects}
    assert set(by_index) == {1, 3}
    assert by_index[1].origin == str(path) and by_index[1].object_id == bad_pattern["id"]
    assert by_index[1].field == "pattern"
    assert by_index[3].object_id == bad_time["id"] and by_index[3].field == "created"
    quarantined = {(q.index, q.object_id): q for q in store.quarantine_list()}
    assert orjson.loads(quarantined[(1, bad_pattern["id"])].raw) == bad_pattern


def test_input_over_the_size_limit_is_refused_with_the_setting_to_change(
    store: SqlStore, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(bundle(*[indicator() for _ in range(50)]))
    small = msgspec.structs.replace(
        settings, limits=msgspec.structs.replace(settings.limits, max_input_bytes=1000)
    )
    with pytest.raises(InputTooLarge, match="max_input_bytes"):
        ingest(store, small, str(path))


def test_too_many_objects_per_bundle_is_refused(
    store: SqlStore, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "many.json"
    path.write_bytes(bundle(*[indicator() for _ in range(11)]))
    capped = msgspec.structs.replace(
        settings, limits=msgspec.structs.replace(settings.limits, max_objects_per_bundle=10)
    )
    with pytest.raises(InputTooLarge, match="max_objects_per_bundle"):
        ingest(store, capped, str(path))


def test_an_object_nested_too_deeply_is_rejected_and_the_rest_land(
    store: SqlStore, settings: Settings, tmp_path: Path
) -> None:
    deep: object = "bottom"
    for _ in range(100):
        deep = [deep]
    ok = indicator()
    nested = indicator(x_deep=deep)
    path = tmp_path / "deep.json"
    path.write_bytes(bundle(ok, nested))
    report = ingest(store, settings, str(path))
    assert (report.new, report.rejected) == (1, 1)
    assert "max_json_depth" in report.rejects[0].reason
    assert report.rejects[0].field.startswith("x_deep")


def test_pathologically_deep_json_is_a_clear_error_not_a_crash(
    store: SqlStore, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "bomb.json"
    path.write_bytes(
        b'{"type":"bundle","objects":[{"a":' + b"[" * 200_000 + b"]" * 200_000 + b"}]}"
    )
    with pytest.raises(InputTooLarge, match="nested too deeply"):
        ingest(store, settings, str(path))


def test_stix_20_bundle_is_upgraded_to_21(
    store: SqlStore, settings: Settings, tmp_path: Path
) -> None:
    old = {
        "type": "bundle",
        "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
        "spec_version": "2.0",
        "objects": [
            {
                "type": "indicator",
                "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                "created": "2016-04-06T20:03:48.000Z",
                "modified": "2016-04-06T20:03:48.000Z",
                "labels": ["malicious-activity"],
                "pattern": "[ipv4-addr:value = '198.51.100.1']",
                "valid_from": "2016-01-01T00:00:00Z",
            }
        ],
    }
    path = tmp_path / "old.json"
    path.write_bytes(orjson.dumps(old))
    report = ingest(store, settings, str(path))
    assert report.new == 1 and report.rejected == 0
    current = store.current("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f")
    assert current is not None
    data = orjson.loads(current.raw)
    assert data["spec_version"] == "2.1" and data["pattern_type"] == "stix"
    assert [h.id for h in store.search("198.51.100.1").hits] == [current.id]


def test_a_directory_ingests_every_file_in_it(
    store: SqlStore, settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "a.json").write_bytes(bundle(indicator()))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("203.0.113.9\n")
    report = ingest(store, settings, str(tmp_path))
    assert report.rejected == 0 and report.new >= 3  # indicator + (indicator, SCO, relationship)


def test_batches_smaller_than_the_input_give_the_same_result(
    store: SqlStore, settings: Settings
) -> None:
    report = ingest(store, settings, str(STIX_EXAMPLES / "apt1.json"), batch_size=7)
    total = len(orjson.loads((STIX_EXAMPLES / "apt1.json").read_bytes())["objects"])
    assert report.received == total and report.rejected == 0
    assert_adds_up(report)
    assert store.stats().versions == report.new + report.new_versions


def test_worker_processes_give_the_same_result_as_preparing_in_process(
    settings: Settings, tmp_path: Path
) -> None:
    from mburoja.stix.model import RawObject
    from mburoja.store.sql import open_store

    objs = [indicator(f"[ipv4-addr:value = '198.51.{i // 256}.{i % 256}']") for i in range(3000)]
    objs[17]["created"] = "not a time"
    objs[2900]["pattern"] = "[ipv4-addr:value = "
    raws = [RawObject(orjson.dumps(o), "gen", i) for i, o in enumerate(objs)]
    results = {}
    for workers in (0, 2):
        store = open_store(f"sqlite:///{tmp_path / f'w{workers}.db'}", initialise=True)
        report = Ingestor(store, settings, workers=workers, parallel_after=0).run(raws, source="w")
        stored = {o["id"]: store.current(o["id"]) for o in objs}
        results[workers] = (
            (report.received, report.new, report.rejected),
            sorted((r.index, r.field) for r in report.rejects),
            {oid: v.raw if v else None for oid, v in stored.items()},
            store.search("198.51.3.7").hits[0].id,
        )
        store.close()
    assert results[0] == results[2]
    assert results[2][0] == (3000, 2998, 2)


@pytest.mark.parametrize("workers", [0, 1])
def test_objects_with_warnings_are_stored_and_counted_with_a_sample(
    settings: Settings, tmp_path: Path, workers: int
) -> None:
    from mburoja.stix.model import RawObject
    from mburoja.store.sql import open_store

    objs = [indicator() for _ in range(2500)]
    objs[7]["indicator_types"] = ["not-a-listed-type"]
    objs[2400]["indicator_types"] = ["also-unlisted"]
    store = open_store(f"sqlite:///{tmp_path / 'w.db'}", initialise=True)
    raws = [RawObject(orjson.dumps(o), "gen", i) for i, o in enumerate(objs)]
    report = Ingestor(store, settings, workers=workers, parallel_after=0).run(raws, source="w")
    assert (report.new, report.warnings, report.rejected) == (2500, 2, 0)
    assert report.adds_up
    assert any(
        objs[7]["id"] in line and "indicator_types" in line for line in report.warning_samples
    )
    run = store.get_ingest(report.ingest_id)
    assert (run.status, run.received, run.warnings, run.new) == ("ok", 2500, 2, 2500)
    store.close()


def test_with_other_threads_running_workers_start_from_a_forkserver(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import threading

    from mburoja.stix.model import RawObject
    from mburoja.store.sql import open_store

    # A web server or a progress display has threads of its own; fork() would copy their
    # locks mid-use, so the pool must use the forkserver then, with the same results.
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        objs = [indicator(f"[domain-name:value = 'fs{i}.example']") for i in range(3000)]
        raws = [RawObject(orjson.dumps(o), "gen", i) for i, o in enumerate(objs)]
        store = open_store(f"sqlite:///{tmp_path / 'fs.db'}", initialise=True)
        with caplog.at_level("INFO", logger="mburoja.ingest.workers"):
            report = Ingestor(store, settings, workers=1, parallel_after=0).run(raws, source="fs")
        assert "worker processes (forkserver)" in caplog.text
        assert (report.new, report.rejected) == (3000, 0)
        assert store.search("www.fs2999.example").hits[0].id == objs[2999]["id"]
        store.close()
    finally:
        stop.set()
        other.join()


def test_without_other_threads_workers_are_forked(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from mburoja.stix.model import RawObject
    from mburoja.store.sql import open_store

    raws = [RawObject(orjson.dumps(indicator()), "gen", i) for i in range(2500)]
    store = open_store(f"sqlite:///{tmp_path / 'f.db'}", initialise=True)
    with caplog.at_level("INFO", logger="mburoja.ingest.workers"):
        report = Ingestor(store, settings, workers=1, parallel_after=0).run(raws, source="f")
    assert report.new == 2500
    assert "worker processes (fork)" in caplog.text
    store.close()
