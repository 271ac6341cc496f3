"""The outbox in the store, on SQLite and PostgreSQL: what each peer is owed is written with
the commit, decided by the policy with the peer as caller; no echo, no loops; outcomes are
recorded and counted; nothing owed disappears until it is delivered or withheld."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mburoja.federation.signing import key_id, public_key_text
from mburoja.store.base import Provenance
from mburoja.store.outbox import Hop, Relay, relay_key
from mburoja.store.peers import instance_of
from mburoja.store.sql import SqlStore
from tests.factories import indicator, prepared

ROOT = "https://peer.example/taxii2/api/"


def _key() -> str:
    return public_key_text(Ed25519PrivateKey.generate())


@pytest.fixture
def world(store: SqlStore) -> Iterator[SqlStore]:
    store.create_org("tirana", "home")
    store.add_peer("hub", ROOT, relation="client", public_key=_key(), push=["inbox"])
    store.add_peer("sofia", ROOT, relation="partner", public_key=_key(), push=["inbox"])
    store.add_peer("quiet", ROOT, relation="client", public_key=_key())  # no push: owed nothing
    yield store


def _write(
    store: SqlStore, *objects: dict, owner: str | None = None, relay: dict | None = None
) -> list[int]:
    ingest = store.begin_ingest("test", "test")
    batch = [prepared(o, index=i) for i, o in enumerate(objects)]
    store.write_batch(
        batch, [], Provenance(source="t", actor="t", ingest_id=ingest, owner=owner, relay=relay)
    )
    with store.engine.connect() as conn:
        return [
            conn.exec_driver_sql(
                f"SELECT seq FROM objects WHERE id = {store._ph} ORDER BY seq DESC", (o["id"],)
            ).scalar_one()
            for o in objects
        ]


def _owed(store: SqlStore, peer: str) -> set[str]:
    return {item.id for item in store.outbox_next(store.get_peer(peer).id, 10_000)}


def test_each_peer_is_owed_what_the_policy_lets_it_see(world: SqlStore) -> None:
    green, amber, strict, red = (
        indicator(tlp=level) for level in ("green", "amber", "amber+strict", "red")
    )
    _write(world, green, amber, strict, red)
    assert _owed(world, "hub") == {green["id"], amber["id"]}  # a client sees AMBER
    assert _owed(world, "sofia") == {green["id"]}  # a partner sees GREEN, not AMBER
    assert _owed(world, "quiet") == set()


def test_red_goes_to_named_recipients_only(world: SqlStore) -> None:
    sofia = world.get_org("sofia").identity_id
    named = indicator(tlp="red", x_mburoja_recipients=[sofia])
    _write(world, named)
    assert _owed(world, "sofia") == {named["id"]}
    assert _owed(world, "hub") == set()


def test_no_echo_and_no_loops(world: SqlStore) -> None:
    hub = world.get_peer("hub")
    from_hub = indicator(tlp="green")
    _write(world, from_hub, owner=hub.org_id)  # what the hub sent is not sent back to it
    assert _owed(world, "hub") == set()
    assert _owed(world, "sofia") == {from_hub["id"]}
    # a version whose path already passed through sofia is not sent to sofia again
    looped = indicator(tlp="green")
    sofia_instance = instance_of(world.get_peer("sofia").public_key, "sofia")
    relay = {
        relay_key(looped["id"], looped["modified"]): Relay(
            origin=sofia_instance,
            path=(Hop(sofia_instance, "2026-01-01T00:00:00.000000Z"), Hop("me", "x")),
        )
    }
    seqs = _write(world, looped, owner=hub.org_id, relay=relay)
    assert looped["id"] not in _owed(world, "sofia")
    assert world.provenance_of(seqs[0]) == relay[relay_key(looped["id"], looped["modified"])]


def test_outcomes_are_recorded_and_failures_never_vanish(world: SqlStore) -> None:
    a, b, c = (indicator(tlp="green") for _ in range(3))
    sa, sb, sc = _write(world, a, b, c)
    hub = world.get_peer("hub").id
    world.outbox_settle(hub, delivered=[sa], failed=[(sb, "422: no thanks")], withheld=[sc])
    status = {p.name: p for p in world.federation_status()}["hub"]
    assert (status.pending, status.failed) == (0, 1)
    assert (status.delivered, status.refused, status.withheld) == (1, 1, 1)
    assert status.last_success is not None
    assert world.outbox_failures(hub) == [(b["id"], b["modified"], "422: no thanks")]
    assert world.outbox_next(hub, 10) == []  # a failed row is not retried on its own
    assert world.outbox_retry(hub) == 1
    assert [item.seq for item in world.outbox_next(hub, 10)] == [sb]
    world.peer_error(hub, "push: connection refused")
    assert {p.name: p for p in world.federation_status()}["hub"].last_error == (
        "push: connection refused"
    )
    world.peer_error(hub, None)
    assert {p.name: p for p in world.federation_status()}["hub"].last_error is None


def test_status_shows_depth_and_lag_and_counts_what_peers_send(world: SqlStore) -> None:
    _write(world, *(indicator(tlp="green") for _ in range(5)))
    sofia = world.get_peer("sofia").id
    world.peer_count(sofia, received=7, rejected=2)
    status = {p.name: p for p in world.federation_status()}["sofia"]
    assert (status.pending, status.received, status.rejected) == (5, 7, 2)
    assert status.lag_s >= 0.0


def test_removing_a_peer_removes_what_it_was_owed(world: SqlStore) -> None:
    _write(world, indicator(tlp="green"))
    sofia = world.get_peer("sofia").id
    world.save_peer_cursor(sofia, "c", b'{"date_added_last":"x"}')
    world.remove_peer("sofia")
    with world.engine.connect() as conn:
        for table in ("outbox", "peer_cursors", "peer_state"):
            left = conn.exec_driver_sql(
                f"SELECT count(*) FROM {table} WHERE peer_id = {world._ph}", (sofia,)
            ).scalar_one()
            assert left == 0, table


def test_a_cursor_is_saved_and_replaced(world: SqlStore) -> None:
    hub = world.get_peer("hub").id
    assert world.peer_cursor(hub, "k") is None
    world.save_peer_cursor(hub, "k", b'{"a":1}')
    world.save_peer_cursor(hub, "k", b'{"a":2}')
    assert world.peer_cursor(hub, "k") == b'{"a":2}'


def test_the_outbox_is_written_in_the_same_transaction(world: SqlStore) -> None:
    """A batch that fails after the objects are inserted leaves no outbox rows behind."""
    obj = indicator(tlp="green")
    ingest = world.begin_ingest("test", "test")
    broken = {relay_key(obj["id"], obj["modified"]): "not a Relay"}  # fails in _enqueue
    with pytest.raises(AttributeError):
        world.write_batch(
            [prepared(obj)], [], Provenance(source="t", actor="t", ingest_id=ingest, relay=broken)
        )
    assert world.current(obj["id"]) is None
    assert _owed(world, "hub") == set()


def test_instance_names_agree_with_signing_key_ids() -> None:
    key = Ed25519PrivateKey.generate()
    text = public_key_text(key)
    assert instance_of(text, "x") == key_id(key.public_key())
    assert instance_of(None, "x") == "taxii:x"
    assert instance_of(text, "x").endswith(hashlib.sha256(base64.b64decode(text)).hexdigest()[:16])
