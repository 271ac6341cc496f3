"""The search's text index (``store.textindex``), on SQLite (FTS5 trigram) and PostgreSQL
(pg_trgm): catching up on stored versions outside ingest, once each, and matching names and
words as case-insensitive substrings of current versions."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from alembic import command

from mburoja.policy import Prefilter
from mburoja.store.base import Provenance
from mburoja.store.browse import TextFilter
from mburoja.store.engine import _alembic_config
from mburoja.store.sql import SqlStore, open_store
from mburoja.store.textindex import TextIndexer
from tests.factories import indicator, prepared, sdo

EVERYTHING = Prefilter(everything=True)


def write(store: SqlStore, *objs: dict, source: str = "unit") -> None:
    run = store.begin_ingest(source, "test")
    prov = Provenance(source=source, actor="test", ingest_id=run)
    store.write_batch([prepared(o) for o in objs], [], prov)


def find(
    store: SqlStore, query: str, *, narrow: TextFilter | None = None, limit: int = 50
) -> list[str]:
    return store.text_candidates(
        [w.lower() for w in query.split()],
        name_phrase=query,
        narrow=narrow or TextFilter(),
        prefilter=EVERYTHING,
        limit=limit,
    )


def indexed_rows(store: SqlStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM text_index").scalar_one())


def test_catch_up_indexes_every_version_once_in_bounded_steps(store: SqlStore) -> None:
    objs = [sdo("campaign", f"Operation Number {i}", description=f"wave{i:03d}") for i in range(7)]
    write(store, *objs[:4])
    write(store, *objs[4:])
    assert store.text_backlog() == 7
    assert find(store, "operation") == []  # ingest wrote nothing to the index
    assert store.index_text(3) == 3
    assert store.text_backlog() == 4
    assert store.index_text(100) == 4
    assert store.text_backlog() == 0
    assert store.index_text(100) == 0  # idempotent: nothing is indexed twice
    assert indexed_rows(store) == 7
    # newest first, every one of them
    assert find(store, "operation number") == [o["id"] for o in reversed(objs)]
    assert find(store, "WAVE003") == [objs[3]["id"]]  # any case, in the description


def test_names_and_words_match_as_substrings_and_short_words_do_not_narrow(
    store: SqlStore,
) -> None:
    lynx = sdo("malware", "LynxLoader", description="a loader used in winter operations")
    net = indicator("[domain-name:value = 'files-48ed1.example']", name="doc net 100%_match")
    write(store, lynx, net)
    store.index_text()
    assert find(store, "loader") == [lynx["id"]]  # inside a name: a word tokenizer misses it
    assert find(store, "winter operations") == [lynx["id"]]
    assert find(store, "loader ministries") == []  # every word must be there
    assert find(store, "s-48ed1.exa") == [net["id"]]  # a domain fragment in the pattern
    assert find(store, "100%_match") == [net["id"]]
    assert find(store, "100%_x") == []  # LIKE wildcards are literal characters
    assert find(store, 'say "loader"') == []  # quotes are characters, not FTS syntax
    # "a" and "in" are too short for trigrams: the caller's own check tests them
    assert find(store, "a loader in") == [lynx["id"]]
    assert find(store, "in") == []


def test_a_new_version_is_found_and_the_superseded_one_is_not(store: SqlStore) -> None:
    v1 = sdo("campaign", "Alpha Bravo", created="2026-01-01T00:00:00Z")
    write(store, v1)
    store.index_text()
    assert find(store, "alpha bravo") == [v1["id"]]
    v2 = {**v1, "modified": "2026-01-02T00:00:00Z", "name": "Charlie Delta"}
    write(store, v2)
    assert store.text_backlog() == 1
    assert store.index_text() == 1
    assert find(store, "charlie") == [v1["id"]]
    assert find(store, "alpha bravo") == []  # only the old version holds that name
    assert indexed_rows(store) == 2  # both versions are indexed, the query keeps current ones


def test_the_sql_filters_narrow_index_matches(store: SqlStore) -> None:
    camp = sdo("campaign", "filter campaign")
    ind = indicator("[domain-name:value = 'filter-b.example']", tlp="green")
    write(store, camp, ind)
    store.index_text()
    assert set(find(store, "filter")) == {camp["id"], ind["id"]}
    assert find(store, "filter", narrow=TextFilter(types=("campaign",))) == [camp["id"]]
    assert find(store, "filter", narrow=TextFilter(tlp="none")) == [camp["id"]]
    assert find(store, "filter", narrow=TextFilter(tlp="green")) == [ind["id"]]
    assert find(store, "filter", narrow=TextFilter(until="2000-01-01T00:00:00.000000Z")) == []
    assert find(store, "filter", limit=1) == [ind["id"]]  # newest first


def test_concurrent_catch_ups_index_each_version_exactly_once(store_url: str) -> None:
    objs = [sdo("campaign", f"concurrent report {i}") for i in range(60)]
    first = open_store(store_url, initialise=True)
    for start in range(0, 60, 10):
        write(first, *objs[start : start + 10])
    others = [open_store(store_url) for _ in range(3)]  # separate engines, as processes
    counts: list[int] = []
    barrier = threading.Barrier(len(others))

    def catch_up(store: SqlStore) -> None:
        barrier.wait()
        total = 0
        while done := store.index_text(7):
            total += done
        counts.append(total)

    threads = [threading.Thread(target=catch_up, args=(s,)) for s in others]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        assert sum(counts) == 60 and len(counts) == 3
        assert indexed_rows(first) == 60
        assert first.text_backlog() == 0
        assert len(find(first, "concurrent report", limit=100)) == 60
    finally:
        for s in (first, *others):
            s.close()


def test_the_background_indexer_catches_up_and_keeps_up(store: SqlStore) -> None:
    write(store, sdo("campaign", "Before Start"))
    indexer = TextIndexer(store, idle=0.05)
    indexer.start()
    try:
        late = sdo("campaign", "After Start")
        write(store, late)
        for _ in range(200):
            if store.text_backlog() == 0:
                break
            threading.Event().wait(0.05)
        assert store.text_backlog() == 0
        assert find(store, "after start") == [late["id"]]
        assert len(find(store, "start")) == 2
    finally:
        indexer.stop()


@pytest.mark.parametrize("limit", [0, -5])
def test_a_non_positive_limit_indexes_nothing(store: SqlStore, limit: int) -> None:
    write(store, sdo("campaign", "Untouched"))
    assert store.index_text(limit) == 0
    assert store.text_backlog() == 1


def test_the_migration_goes_down_and_up_again_with_a_fresh_index(store_url: str) -> None:
    store = open_store(store_url, initialise=True)
    try:
        write(store, sdo("campaign", "Round Trip"))
        assert store.index_text() == 1
        cfg = _alembic_config(store.engine)
        with store.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0008")
        with store.engine.connect() as conn:
            names = sa.inspect(conn).get_table_names()
        assert not [n for n in names if n.startswith("text_index")]
        store.initialise()
        assert store.text_backlog() == 1  # rebuilt from the stored versions, not lost
        assert store.index_text() == 1
        assert len(find(store, "round trip")) == 1
    finally:
        store.close()
