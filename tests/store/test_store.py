"""The store's contract, run on SQLite and on PostgreSQL (the ``store`` fixture)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

import orjson
import pytest

from mburoja.errors import NotFound
from mburoja.stix.markings import TLP2
from mburoja.stix.model import Reject
from mburoja.store.base import Provenance
from mburoja.store.sql import SqlStore
from tests.factories import indicator, prepared, relationship, sco, sdo

TAXII_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def write(
    store: SqlStore,
    *objs: dict,
    source: str = "unit",
    derived: bool = False,
    collection: str | None = None,
):
    run = store.begin_ingest(source, "test")
    prov = Provenance(source=source, actor="test", ingest_id=run, collection=collection)
    return store.write_batch([prepared(o, derived=derived) for o in objs], [], prov)


def test_stored_object_comes_back_byte_equal_with_microsecond_date_added(store: SqlStore) -> None:
    obj = indicator(x_custom={"nested": ["ünïcode", 1, None]})
    result = write(store, obj)
    assert (result.new, result.new_versions, result.unchanged) == (1, 0, 0)
    [version] = store.versions(obj["id"])
    assert version.raw == orjson.dumps(obj)
    assert TAXII_STAMP.match(version.date_added)
    assert version.is_current and version.tlp == "green"
    assert version.markings == (TLP2["green"],)


def test_same_version_twice_is_unchanged_and_not_stored_again(store: SqlStore) -> None:
    obj = indicator()
    write(store, obj)
    again = write(store, obj)
    assert (again.new, again.new_versions, again.unchanged) == (0, 0, 1)
    assert len(store.versions(obj["id"])) == 1


def test_newer_version_becomes_current_and_older_one_is_kept(store: SqlStore) -> None:
    v1 = indicator(created="2026-01-01T00:00:00Z")
    v2 = {**v1, "modified": "2026-01-02T00:00:00.5Z", "name": "second"}
    write(store, v1)
    result = write(store, v2)
    assert result.new_versions == 1
    versions = store.versions(v1["id"])
    assert [v.version for v in versions] == [v1["modified"], v2["modified"]]
    assert [v.is_current for v in versions] == [False, True]
    current = store.current(v1["id"])
    assert current is not None and orjson.loads(current.raw)["name"] == "second"


def test_older_version_arriving_late_never_replaces_current(store: SqlStore) -> None:
    v1 = indicator(created="2026-01-01T00:00:00Z")
    v3 = {**v1, "modified": "2026-03-01T00:00:00Z", "name": "third"}
    v2 = {**v1, "modified": "2026-02-01T00:00:00Z", "name": "second"}
    write(store, v1)
    write(store, v3)
    result = write(store, v2)
    assert result.new_versions == 1
    current = store.current(v1["id"])
    assert current is not None and current.version == v3["modified"]
    assert len(store.versions(v1["id"])) == 3


def test_sub_second_precision_orders_versions_by_instant_not_text(store: SqlStore) -> None:
    v1 = indicator(created="2026-01-01T00:00:00Z")
    v2 = {**v1, "modified": "2026-01-01T00:00:00.000001Z"}
    write(store, v2)
    write(store, v1)
    current = store.current(v1["id"])
    assert current is not None and current.version == "2026-01-01T00:00:00.000001Z"


def test_two_versions_in_one_batch_leave_only_the_newest_current(store: SqlStore) -> None:
    v1 = indicator(created="2026-01-01T00:00:00Z")
    v2 = {**v1, "modified": "2026-01-05T00:00:00Z"}
    result = write(store, v2, v1)
    assert (result.new, result.new_versions) == (1, 1)
    flags = {v.version: v.is_current for v in store.versions(v1["id"])}
    assert flags == {v1["modified"]: False, v2["modified"]: True}


def test_a_revoked_object_cannot_get_a_newer_unrevoked_version(store: SqlStore) -> None:
    v1 = indicator(created="2026-01-01T00:00:00Z")
    revoked = {**v1, "modified": "2026-01-02T00:00:00Z", "revoked": True}
    revived = {**v1, "modified": "2026-01-03T00:00:00Z"}
    write(store, v1, revoked)
    result = write(store, revived)
    assert result.rejected == 1 and result.new_versions == 0
    [reject] = result.rejects
    assert reject.object_id == v1["id"] and reject.field == "revoked"
    current = store.current(v1["id"])
    assert current is not None and current.revoked
    [entry] = store.quarantine_list()
    assert entry.raw == orjson.dumps(revived) and "revoked" in entry.reason


def test_sco_with_the_same_id_but_new_content_becomes_a_new_version(store: SqlStore) -> None:
    first = sco("domain-name", "evil.example")
    second = {**first, "resolves_to_refs": [f"ipv4-addr--{'1' * 8}-1111-4111-8111-{'1' * 12}"]}
    assert write(store, first).new == 1
    assert write(store, first).unchanged == 1
    assert write(store, second).new_versions == 1
    versions = store.versions(first["id"])
    assert [v.is_current for v in versions] == [False, True]
    assert versions[1].raw == orjson.dumps(second)


def test_derived_objects_with_fresh_timestamps_only_are_unchanged(store: SqlStore) -> None:
    first = indicator(
        id="indicator--7b5e1d2a-2b1e-5c3e-9d4f-0a1b2c3d4e5f", created="2026-01-01T00:00:00Z"
    )
    later = {
        **first,
        "created": "2026-02-01T00:00:00Z",
        "modified": "2026-02-01T00:00:00Z",
        "valid_from": "2026-02-01T00:00:00Z",
    }
    write(store, first, derived=True)
    assert write(store, later, derived=True).unchanged == 1
    changed = {**later, "confidence": 90}
    assert write(store, changed, derived=True).new_versions == 1


def test_ip_search_finds_the_address_and_every_containing_cidr(store: SqlStore) -> None:
    exact = indicator("[ipv4-addr:value = '203.0.113.7']")
    net24 = indicator("[ipv4-addr:value ISSUBSET '203.0.113.0/24']")
    net16 = sco("ipv4-addr", "203.0.0.0/16")
    other = indicator("[ipv4-addr:value ISSUBSET '198.51.100.0/24']")
    write(store, exact, net24, net16, other)
    found = {h.id for h in store.search("203.0.113.7").hits}
    assert found == {exact["id"], net24["id"], net16["id"]}


def test_ipv6_search_finds_containing_ranges(store: SqlStore) -> None:
    net = indicator("[ipv6-addr:value ISSUBSET '2001:db8::/32']")
    write(store, net)
    assert [h.id for h in store.search("2001:db8:0:1::42").hits] == [net["id"]]
    assert store.search("2001:db9::1").hits == ()


def test_domain_search_finds_parent_domain_indicators(store: SqlStore) -> None:
    parent = indicator("[domain-name:value = 'bad.example']")
    unrelated = indicator("[domain-name:value = 'notbad.example']")
    write(store, parent, unrelated)
    hits = store.search("login.mail.BAD.example").hits
    assert [h.id for h in hits] == [parent["id"]]


def test_hash_search_is_case_insensitive_both_ways(store: SqlStore) -> None:
    digest = "AB" * 32
    ind = indicator(f"[file:hashes.'SHA-256' = '{digest}']")
    f = sco("file", {"SHA-256": digest.lower()})
    write(store, ind, f)
    assert {h.id for h in store.search(digest.lower()).hits} == {ind["id"], f["id"]}
    assert {h.id for h in store.search(digest).hits} == {ind["id"], f["id"]}


def test_search_lists_every_source_with_first_and_last_seen(store: SqlStore) -> None:
    ind = indicator("[domain-name:value = 'shared.example']")
    write(store, ind, source="ally-a")
    write(store, ind, source="ally-b")
    result = store.search("shared.example")
    [hit] = result.hits
    assert hit.sources == ("ally-a", "ally-b") and result.sources == ("ally-a", "ally-b")
    assert hit.first_seen < hit.last_seen
    assert [r.source for r in store.receipts(ind["id"])] == ["ally-a", "ally-b"]


def test_same_source_resending_records_no_new_receipt(store: SqlStore) -> None:
    ind = indicator()
    write(store, ind, source="ally-a")
    write(store, ind, source="ally-a")
    assert [r.source for r in store.receipts(ind["id"])] == ["ally-a"]


def test_search_for_an_unknown_value_returns_no_hits(store: SqlStore) -> None:
    write(store, indicator())
    result = store.search("nothing-here.example")
    assert result.hits == () and result.first_seen is None


def test_dangling_references_are_counted_not_rejected(store: SqlStore) -> None:
    malware = sdo("malware", "Wiper")
    missing = f"campaign--{'2' * 8}-2222-4222-8222-{'2' * 12}"
    rel = relationship(malware["id"], "related-to", missing)
    result = write(store, malware, rel)
    assert result.new == 2
    assert store.dangling_refs() == 1


def test_collections_record_membership(store: SqlStore) -> None:
    a, b = indicator(), indicator()
    write(store, a, collection="ally-feed")
    write(store, a, b, collection="ally-feed")
    [coll] = store.collections()
    assert coll.alias == "ally-feed" and coll.objects == 2


def test_a_collection_added_while_a_writer_adds_it_too_is_not_an_error(store: SqlStore) -> None:
    """An ingest's writer may be adding a collection in a transaction not yet committed
    when another thread ensures the same collection (the pipeline does this as it starts its
    worker pool): the second waits for the first and gets the same collection."""
    outcome: list[object] = []
    with store._write() as conn:
        cid = store._collection_id(conn, "race")
        other = threading.Thread(
            target=lambda: outcome.append(_try(lambda: store.ensure_collection("race")))
        )
        other.start()
        other.join(0.5)  # on PostgreSQL it waits for this transaction; SQLite for the lock
    other.join(30)
    assert not other.is_alive()
    [got] = outcome
    assert not isinstance(got, BaseException), got
    assert [c.id for c in store.collections() if c.alias == "race"] == [cid]


def _try(fn: Callable[[], object]) -> object:
    try:
        return fn()
    except BaseException as exc:  # the test reports it
        return exc


def test_quarantine_keeps_rejects_verbatim_and_tracks_status(store: SqlStore) -> None:
    run = store.begin_ingest("unit", "test")
    bad = Reject("bad.json", 3, "indicator--x", "pattern", "broken", b'{"x": 1}')
    store.write_batch([], [bad], Provenance(source="unit", actor="t", ingest_id=run))
    [entry] = store.quarantine_list()
    assert (entry.origin, entry.index, entry.field, entry.raw) == (
        "bad.json",
        3,
        "pattern",
        b'{"x": 1}',
    )
    store.quarantine_set_status(entry.qid, "replayed")
    assert store.quarantine_list() == []
    assert store.quarantine_get(entry.qid).status == "replayed"
    with pytest.raises(NotFound):
        store.quarantine_get(entry.qid + 100)


def test_stats_count_current_objects_by_type_and_tlp(store: SqlStore) -> None:
    v1 = indicator(created="2026-01-01T00:00:00Z", tlp="amber")
    v2 = {**v1, "modified": "2026-01-02T00:00:00Z"}
    write(store, v1, v2, sdo("malware", "X"), sco("ipv4-addr", "192.0.2.1"))
    stats = store.stats()
    assert stats.objects == 3 and stats.versions == 4
    assert stats.by_type == {"indicator": 1, "ipv4-addr": 1, "malware": 1}
    assert stats.by_tlp == {"amber": 1, "none": 2}


def test_concurrent_writers_of_overlapping_batches_store_each_version_once(store: SqlStore) -> None:
    import threading

    shared = [indicator(f"[domain-name:value = 'c{i}.example']") for i in range(300)]
    errors: list[BaseException] = []
    results = []

    def writer(offset: int) -> None:
        try:
            run = store.begin_ingest(f"w{offset}", "test")
            prov = Provenance(source=f"w{offset}", actor="t", ingest_id=run)
            batch = [prepared(o) for o in shared[offset:] + shared[:offset]]
            for start in range(0, len(batch), 50):
                results.append(store.write_batch(batch[start : start + 50], [], prov))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k * 100,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(r.new for r in results) == 300
    assert sum(r.unchanged for r in results) == 600
    assert store.stats().versions == 300


def test_search_cut_short_by_its_limit_keeps_the_newest_objects(store: SqlStore) -> None:
    first = [indicator("[ipv4-addr:value ISSUBSET '192.0.2.0/24']") for _ in range(3)]
    later = [indicator("[ipv4-addr:value ISSUBSET '192.0.2.0/24']") for _ in range(2)]
    write(store, *first)
    write(store, *later)
    hits = store.search("192.0.2.1", limit=2).hits
    assert {h.id for h in hits} == {o["id"] for o in later}
