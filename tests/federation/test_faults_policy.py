"""Federation under faults and policy changes, with real ``mburoja serve`` processes.

A marking tightened while the receiver is away, a receiver that refuses some objects, a
sender that is not who it claims to be, and one very large signed batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mburoja.federation.signing import load_key, sign, with_signatures
from mburoja.stix.markings import TLP2
from tests.factories import indicator
from tests.federation.cluster import SHARED_ID, Instance, link, wait_for

WAIT_S = 60.0


def ids(instance: Instance) -> set[str]:
    return {oid for oid, _version in instance.versions()}


def post_envelope(instance: Instance, body: bytes, token: str) -> dict[str, Any]:
    """POST an envelope, as given, to the shared collection; the status resource."""
    with instance.http(token) as client:
        answer = client.post(f"{instance.api_root}collections/{SHARED_ID}/objects/", content=body)
    assert answer.status_code == 202, answer.text
    status: dict[str, Any] = answer.json()
    return status


def get_status(instance: Instance, status_id: str, token: str) -> dict[str, Any]:
    with instance.http(token) as client:
        answer = client.get(f"{instance.api_root}status/{status_id}/")
    assert answer.status_code == 200, answer.text
    status: dict[str, Any] = answer.json()
    return status


def signed(key: Ed25519PrivateKey, objects: list[dict[str, Any]]) -> bytes:
    return with_signatures([orjson.dumps(o) for o in objects], [sign(key, o) for o in objects])


# -- 6. a marking tightened while a sync is in flight ------------------------------------------


def test_a_marking_tightened_before_delivery_withholds_every_pending_version(
    tmp_path: Path,
) -> None:
    t = Instance(tmp_path, "tirana", federation_backoff_max_s="1")
    s = Instance(tmp_path, "sofia")
    link(t, s, relation="client")  # AMBER may go to Sofia, RED (naming nobody) may not
    try:
        t.start()  # Sofia stays down: what Tirana owes it waits in the outbox
        amber = [
            indicator(f"[domain-name:value = 'tightened-{i}.example']", tlp="amber")
            for i in range(500)
        ]
        assert t.post(amber)["success_count"] == 500
        wait_for(
            lambda: t.status()["sofia"]["last_error"] is not None,
            WAIT_S,
            "tirana to try sofia and fail",
        )
        tightened = amber[:200]
        red = [
            {**o, "modified": "2026-02-01T00:00:00.000Z", "object_marking_refs": [TLP2["red"]]}
            for o in tightened
        ]
        assert t.post(red)["success_count"] == 200
        # The RED versions are owed to nobody; the pusher may already have withheld the
        # tightened versions while Sofia is down (it decides before it connects).
        pending = t.status()["sofia"]
        assert pending["pending"] + pending["withheld"] == 500
        assert pending["delivered"] == 0

        s.start()
        wait_for(lambda: t.status()["sofia"]["pending"] == 0, WAIT_S, "tirana's outbox for sofia")
        state = t.status()["sofia"]
        assert state["withheld"] == 200
        assert state["delivered"] == 300
        assert state["failed"] == 0

        at_sofia = s.versions()
        untouched = {o["id"] for o in amber[200:]}
        assert {oid for oid, _ in at_sofia} == untouched
        assert {(o["id"], o["modified"]) for o in amber[200:]} == at_sofia
        assert not {o["id"] for o in tightened} & {oid for oid, _ in at_sofia}
    finally:
        s.stop()
        t.stop()


# -- 7. the receiver refuses some objects ------------------------------------------------------


def test_objects_the_receiver_refuses_stay_visible_and_can_be_retried(tmp_path: Path) -> None:
    t = Instance(tmp_path, "tirana")
    s = Instance(tmp_path, "sofia")
    link(t, s, relation="partner")
    with s.store() as store:
        sofia_identity = store.home_org().identity_id  # type: ignore[union-attr]
    try:
        t.start()
        s.start()
        good = [indicator(f"[domain-name:value = 'good-{i}.example']") for i in range(6)]
        # Tirana (custodian of its store) may file them; Sofia refuses objects that claim
        # to be created by Sofia itself when Tirana sends them.
        spoofed = [
            indicator(f"[domain-name:value = 'spoofed-{i}.example']", created_by_ref=sofia_identity)
            for i in range(3)
        ]
        mixed = [good[0], spoofed[0], good[1], good[2], spoofed[1], good[3], spoofed[2]]
        assert t.post(mixed)["success_count"] == len(mixed)
        wanted = {o["id"] for o in mixed if o in good}

        def drained() -> bool:
            peer = t.status()["sofia"]
            return bool(peer["pending"] == 0 and peer["failed"] == 3)

        wait_for(drained, WAIT_S, "tirana's outbox to settle")
        assert ids(s) == wanted
        state = t.status()["sofia"]
        assert state["delivered"] == 4
        assert state["refused"] == 3
        assert state["failed"] == 3

        def failures() -> dict[str, str]:
            shown = orjson.loads(t.cli("peer", "status", "--failures", "--json"))
            return {oid: reason for oid, _version, reason in shown["failures"]["sofia"]}

        refused = failures()
        assert set(refused) == {o["id"] for o in spoofed}
        for reason in refused.values():
            assert "another organisation's identity" in reason
            assert sofia_identity in reason

        # They never disappear: after more traffic, they are still there.
        later = good[4:]
        t.post(later)
        wait_for(lambda: {o["id"] for o in later} <= ids(s), WAIT_S, "the later objects at sofia")
        assert set(failures()) == {o["id"] for o in spoofed}
        assert t.status()["sofia"]["failed"] == 3
        assert s.status()["tirana"]["rejected"] == 3  # Sofia counts what it refused

        # Retried, they go again, are refused again, and stay listed.
        assert "3 refused version(s) queued again" in t.cli("peer", "retry", "sofia")
        wait_for(lambda: t.status()["sofia"]["refused"] == 6, WAIT_S, "the retried objects refused")
        wait_for(drained, WAIT_S, "tirana's outbox to settle again")
        assert set(failures()) == {o["id"] for o in spoofed}
        assert ids(s) == {o["id"] for o in good}
        assert s.status()["tirana"]["rejected"] == 6
    finally:
        s.stop()
        t.stop()


# -- 8. a spoofed or unsigned peer -------------------------------------------------------------


def test_unsigned_or_badly_signed_objects_from_a_peer_are_quarantined(tmp_path: Path) -> None:
    t = Instance(tmp_path, "tirana")
    s = Instance(tmp_path, "sofia")
    link(t, s)  # Sofia knows Tirana's key, and Tirana must sign
    token = t.env["TOKEN_SOFIA"]
    key = load_key(t.data_dir)
    try:
        s.start()  # Tirana never runs: the test speaks for it with its sync token

        # (a) an envelope with no signatures at all
        unsigned = indicator("[domain-name:value = 'unsigned.example']")
        plain = post_envelope(s, orjson.dumps({"objects": [unsigned]}), token)

        # (b) signed by a key Sofia does not know, (c) Tirana's signature over another body,
        # and a properly signed object beside them
        stranger = Ed25519PrivateKey.generate()
        foreign = indicator("[domain-name:value = 'foreign.example']")
        original = indicator("[domain-name:value = 'original.example']", description="as signed")
        tampered = {**original, "description": "changed after signing"}
        good = indicator("[domain-name:value = 'good.example']")
        body = with_signatures(
            [orjson.dumps(o) for o in (foreign, tampered, good)],
            [sign(stranger, foreign), sign(key, original), sign(key, good)],
        )
        mixed = post_envelope(s, body, token)

        for status in (plain, mixed):
            assert status["status"] == "complete", status
            assert status["total_count"] == (
                status["success_count"] + status["failure_count"] + status["pending_count"]
            )
        assert plain["success_count"] == 0 and plain["failure_count"] == 1
        assert mixed["success_count"] == 1 and mixed["failure_count"] == 2
        assert [e["id"] for e in mixed["successes"]] == [good["id"]]
        reasons = {e["id"]: e["message"] for e in [*plain["failures"], *mixed["failures"]]}
        bad = {unsigned["id"], foreign["id"], tampered["id"]}
        assert set(reasons) == bad
        for message in reasons.values():
            assert message.startswith("x_mburoja_signatures")
        assert "unsigned" in reasons[unsigned["id"]]
        assert "a key no configured peer has" in reasons[foreign["id"]]
        assert "does not verify" in reasons[tampered["id"]]

        # Only the properly signed object is stored, with Tirana as its origin.
        assert ids(s) == {good["id"]}
        with s.store() as store:
            (version,) = store.versions(good["id"])
            relay = store.provenance_of(version.seq)
            quarantined = store.quarantine_list(status=None)
        assert relay is not None and relay.origin == t.key_id
        held = {q.object_id: q for q in quarantined}
        assert set(held) == bad
        assert {q.field for q in held.values()} == {"x_mburoja_signatures"}
        assert orjson.loads(held[tampered["id"]].raw) == tampered

        peer = s.status()["tirana"]
        assert peer["rejected"] == 3
        assert peer["received"] == 1
    finally:
        s.stop()


# -- 9. a 50 MB batch ----------------------------------------------------------------------------


def test_a_50_mb_signed_batch_is_stored_whole(tmp_path: Path) -> None:
    t = Instance(tmp_path, "tirana")
    s = Instance(tmp_path, "sofia")
    link(t, s)
    token = t.env["TOKEN_SOFIA"]
    key = load_key(t.data_dir)
    padding = "x" * 1900
    objects = [
        indicator(
            f"[ipv4-addr:value = '10.{i // 65536}.{i // 256 % 256}.{i % 256}']",
            description=f"{i} {padding}",
        )
        for i in range(25_000)
    ]
    body = signed(key, objects)
    assert len(body) > 50 * 1024 * 1024
    try:
        s.start()
        first = post_envelope(s, body, token)
        seen: list[dict[str, Any]] = [first]

        def complete() -> bool:
            status = get_status(s, first["id"], token)
            seen.append(status)
            return bool(status["status"] == "complete")

        wait_for(complete, 120.0, "the batch's status to complete")
        for status in seen:
            assert status["total_count"] == len(objects)
            assert (
                status["success_count"] + status["failure_count"] + status["pending_count"]
                == status["total_count"]
            ), status
        done = [status["success_count"] for status in seen]
        assert done == sorted(done)  # counts only ever move from pending to done
        final = seen[-1]
        assert final["success_count"] == final["total_count"] == len(objects)
        assert final["failure_count"] == 0 and final["pending_count"] == 0
        assert s.count() == len(objects)
        assert s.status()["tirana"]["received"] == len(objects)
    finally:
        s.stop()
