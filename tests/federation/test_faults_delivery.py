"""Delivery under faults, with real ``mburoja serve`` processes: Tirana pushes to Sofia
(a partner, so TLP:GREEN goes and TLP:AMBER never does) and each fault ends with Sofia
holding exactly the versions Tirana owes it: nothing lost, nothing twice, nothing beyond
its marking.

The faults: the receiver killed mid-batch; the sender killed with 10,000 versions queued
(and again mid-drain); the network cut or stalled mid-transfer (a proxy in this file);
the same envelope delivered twice and versions arriving newest first; a sender whose
clock is an hour off either way.
"""

from __future__ import annotations

import contextlib
import select
import shutil
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from mburoja.federation.signing import load_key, sign, with_signatures
from mburoja.stix.timestamps import to_taxii
from tests.factories import indicator
from tests.federation.cluster import SHARED_ID, Instance, link, wait_for

Version = tuple[str, str]

# Short retries for every sender: a fault must be recovered from within the test's bounds.
_SENDER = {"MBUROJA_FEDERATION_BACKOFF_MAX_S": "2"}


# -- helpers -------------------------------------------------------------------------------


def _objects(n: int, tag: str, tlp: str = "green", **fields: Any) -> list[dict[str, Any]]:
    return [
        indicator(f"[domain-name:value = '{tag}{i}.example']", tlp=tlp, **fields) for i in range(n)
    ]


def _versions(objects: Iterable[Mapping[str, Any]]) -> set[Version]:
    return {(o["id"], o["modified"]) for o in objects}


def _post_all(instance: Instance, objects: list[dict[str, Any]], size: int = 1000) -> None:
    """POST in envelopes of at most ``size`` (processed before the answer: all committed)."""
    for start in range(0, len(objects), size):
        status = instance.post(objects[start : start + size])
        assert status["status"] == "complete", status
        assert status["failure_count"] == 0, status


def _pair(root: Path, **sender_env: str) -> tuple[Instance, Instance]:
    tirana = Instance(root, "tirana")
    sofia = Instance(root, "sofia")
    link(tirana, sofia, relation="partner")
    tirana.env.update(_SENDER)
    tirana.env.update(sender_env)
    return tirana, sofia


def _assert_exactly(receiver: Instance, expected: set[Version]) -> None:
    """The receiver holds exactly ``expected``: each version once, nothing else."""
    got = receiver.versions()
    assert got == expected, (
        f"{receiver.name}: {len(expected - got)} missing, {len(got - expected)} unexpected"
    )
    assert receiver.count() == len(expected), "a version is stored more than once"


def _owed(sender: Instance, peer: str) -> set[Version]:
    """(id, version) of every outbox row the sender still holds for ``peer``."""
    with sender.store() as store, store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT o.id, o.version FROM outbox b JOIN objects o ON o.seq = b.seq "
            "JOIN peers p ON p.id = b.peer_id WHERE p.name = ?",
            (peer,),
        ).all()
    return {(oid, version) for oid, version in rows}


def _assert_nothing_lost(sender: Instance, receiver: Instance, expected: set[Version]) -> None:
    """Every eligible version is at the receiver or still owed to it (read the outbox
    first: a row leaves it only once the receiver has the version)."""
    owed = _owed(sender, receiver.name)
    held = receiver.versions()
    assert expected <= owed | held, f"{len(expected - owed - held)} versions lost"
    assert held <= expected, "the receiver holds versions it was never owed"


def _drained(sender: Instance, receiver: Instance, expected: set[Version]) -> bool:
    if receiver.versions() != expected:
        return False
    peer = sender.status()[receiver.name]
    return bool(peer["pending"] == 0 and peer["failed"] == 0)


def _wait_first_arrivals(receiver: Instance, total: int, timeout_s: float = 60.0) -> int:
    """Poll (tightly: deliveries are fast) until the receiver holds something; its count."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        held = receiver.count()
        if held:
            return held
        time.sleep(0.005)
    raise AssertionError(f"nothing reached {receiver.name} in {timeout_s}s (of {total})")


def _stop_all(*instances: Instance) -> None:
    for instance in instances:
        instance.stop()


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# -- 1. the receiver killed mid-batch ------------------------------------------------------


def test_receiver_killed_mid_batch_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    # small envelopes so the kill lands while deliveries are under way
    tirana, sofia = _pair(tmp_path, MBUROJA_FEDERATION_BATCH_SIZE="100")
    green = _objects(3000, "kill-receiver-")
    amber = _objects(5, "kill-receiver-amber-", tlp="amber")
    expected = _versions(green)
    try:
        tirana.start()  # sofia is down: everything queues
        _post_all(tirana, amber + green[:995])
        _post_all(tirana, green[995:])
        assert tirana.count() == 3005
        assert tirana.status()["sofia"]["pending"] == 3000

        sofia.start()
        _wait_first_arrivals(sofia, len(expected))
        killed = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        sofia.stop(kill=True)
        at_kill = sofia.count()
        assert 0 < at_kill < len(expected), f"the kill came too late ({at_kill} delivered)"
        _assert_nothing_lost(tirana, sofia, expected)

        def noticed() -> bool:  # an error recorded after the kill, not the one before start
            peer = tirana.status()["sofia"]
            return bool(peer["last_error"]) and (peer["last_error_at"] or "") > killed

        wait_for(noticed, 30, "tirana to see sofia gone")
        assert tirana.status()["sofia"]["pending"] > 0

        sofia.start()
        wait_for(lambda: _drained(tirana, sofia, expected), 60, "delivery after the restart")
        _assert_exactly(sofia, expected)
        peer = tirana.status()["sofia"]
        assert (peer["pending"], peer["failed"], peer["refused"]) == (0, 0, 0)
        assert peer["delivered"] == len(expected)  # each outbox row settled exactly once
        assert peer["withheld"] == 0  # AMBER was never owed to a partner
    finally:
        _stop_all(tirana, sofia)


# -- 2. the sender killed with 10,000 versions queued --------------------------------------


def test_sender_killed_with_ten_thousand_queued_delivers_them_all(tmp_path: Path) -> None:
    tirana, sofia = _pair(tmp_path)
    green = _objects(10_000, "kill-sender-")
    amber = _objects(5, "kill-sender-amber-", tlp="amber")
    expected = _versions(green)
    try:
        tirana.start()  # sofia never started yet
        _post_all(tirana, amber)
        _post_all(tirana, green, size=1000)
        wait_for(lambda: tirana.status()["sofia"]["pending"] == 10_000, 30, "10,000 owed")
        tirana.stop(kill=True)
        assert sofia.count() == 0
        assert _owed(tirana, "sofia") == expected  # the outbox survived the SIGKILL

        sofia.start()
        tirana.start()
        _wait_first_arrivals(sofia, len(expected))
        tirana.stop(kill=True)  # again, mid-drain
        _assert_nothing_lost(tirana, sofia, expected)

        tirana.start()
        wait_for(lambda: _drained(tirana, sofia, expected), 90, "the 10,000 to drain")
        _assert_exactly(sofia, expected)
        peer = tirana.status()["sofia"]
        assert (peer["pending"], peer["failed"]) == (0, 0)
    finally:
        _stop_all(tirana, sofia)


# -- 3. the network cut or stalled mid-transfer --------------------------------------------


class Proxy:
    """A TCP relay on 127.0.0.1 to ``target_port`` that can be switched, at once or after a
    given number of bytes towards the target, to ``drop`` (close every connection and close
    new ones at once) or ``stall`` (accept, hold, forward nothing), and back to ``pass``."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = int(self.listener.getsockname()[1])
        self.mode = "pass"
        self.forwarded = 0  # bytes sent on towards the target
        self._cut: tuple[int, str] | None = None
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._closed = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/taxii2/api/"

    def cut_after(self, nbytes: int, mode: str) -> None:
        """Switch to ``mode`` once ``nbytes`` have gone towards the target (mid-request)."""
        with self._lock:
            self._cut = (nbytes, mode)

    def switch(self, mode: str) -> None:
        with self._lock:
            self._cut = None
            self.mode = mode
            if mode != "stall":
                self._close_all()

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            self._close_all()
        self.listener.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _close_all(self) -> None:
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._sockets.clear()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                mode = self.mode
                if mode == "drop":
                    client.close()
                    continue
                self._sockets.add(client)
                if mode == "stall":
                    continue  # held, never read: the sender waits until its time-out
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                with self._lock:
                    self._sockets.discard(client)
                client.close()
                continue
            with self._lock:
                self._sockets.add(upstream)
            for src, dst, onward in ((client, upstream, True), (upstream, client, False)):
                thread = threading.Thread(target=self._pump, args=(src, dst, onward), daemon=True)
                thread.start()
                self._threads.append(thread)

    def _pump(self, src: socket.socket, dst: socket.socket, onward: bool) -> None:
        try:
            while not self._closed.is_set():
                if self.mode == "stall":
                    time.sleep(0.02)
                    continue
                if self.mode == "drop" or src.fileno() < 0:
                    return
                ready, _, _ = select.select([src], [], [], 0.05)
                if not ready or self.mode != "pass":
                    continue
                data = src.recv(65536)
                if not data:
                    return
                if onward:
                    data = self._count(data)
                if data:
                    dst.sendall(data)
        except OSError:
            return
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _count(self, data: bytes) -> bytes:
        """What of ``data`` may still go on; switches mode when the cut is reached."""
        with self._lock:
            if self._cut is None:
                self.forwarded += len(data)
                return data
            limit, mode = self._cut
            room = max(0, limit - self.forwarded)
            if len(data) < room:
                self.forwarded += len(data)
                return data
            self.forwarded += room
            self._cut = None
            self.mode = mode
        if mode == "drop":
            with self._lock:
                self._close_all()
            return b""
        return data[:room]


@pytest.mark.parametrize("fault", ["drop", "stall"])
def test_network_cut_mid_transfer_keeps_versions_pending_then_delivers(
    tmp_path: Path, fault: str
) -> None:
    tirana, sofia = _pair(
        tmp_path,
        MBUROJA_FEDERATION_BATCH_SIZE="50",
        MBUROJA_FEDERATION_STATUS_TIMEOUT_S="3",
        MBUROJA_FETCH_TIMEOUT_S="3",
    )
    proxy = Proxy(sofia.port)
    with tirana.store() as store:  # tirana reaches sofia through the proxy
        store.remove_peer("sofia")
        store.add_peer(
            "sofia",
            proxy.url,
            relation="partner",
            public_key=sofia.public_key,
            secret_env="TOKEN_SOFIA",
            push=[SHARED_ID],
        )
    green = _objects(600, f"cut-{fault}-")
    amber = _objects(3, f"cut-{fault}-amber-", tlp="amber")
    expected = _versions(green)
    # ~600 objects of ~1 KB with signature and provenance: cut after roughly a fifth
    proxy.cut_after(120_000, fault)
    try:
        sofia.start()
        tirana.start()
        _post_all(tirana, amber + green)

        def noticed() -> bool:
            peer = tirana.status()["sofia"]
            return bool(peer["last_error"]) and peer["pending"] > 0

        wait_for(noticed, 60, f"tirana to record the {fault}")
        assert proxy.mode == fault
        peer = tirana.status()["sofia"]
        assert ("timed out" if fault == "stall" else "connection failed") in peer["last_error"]
        assert peer["pending"] > 0
        assert sofia.count() < len(expected), "the cut came after everything arrived"
        _assert_nothing_lost(tirana, sofia, expected)

        proxy.switch("pass")
        wait_for(lambda: _drained(tirana, sofia, expected), 60, "delivery once restored")
        wait_for(lambda: tirana.status()["sofia"]["last_error"] is None, 30, "the error to clear")
        _assert_exactly(sofia, expected)
        peer = tirana.status()["sofia"]
        assert (peer["pending"], peer["failed"]) == (0, 0)
        assert peer["last_success"] is not None
    finally:
        _stop_all(tirana, sofia)
        proxy.close()


# -- 4. the same envelope twice, and versions newest first ---------------------------------


def _push_as(sender: Instance, receiver: Instance, objects: list[dict[str, Any]]) -> Any:
    """POST a signed envelope to the receiver as the sender's sync account would."""
    key = load_key(sender.data_dir)
    body = with_signatures([orjson.dumps(o) for o in objects], [sign(key, o) for o in objects])
    token = sender.env[f"TOKEN_{receiver.name.upper()}"]
    with receiver.http(token) as client:
        answer = client.post(f"{receiver.api_root}collections/{SHARED_ID}/objects/", content=body)
    assert answer.status_code == 202, answer.text
    status = answer.json()
    assert status["status"] == "complete", status
    return status


def _successes(status: Mapping[str, Any]) -> set[Version]:
    return {(d["id"], d["version"]) for d in status.get("successes", ())}


def _taxii(versions: Iterable[Version]) -> set[Version]:
    return {(oid, to_taxii(version)) for oid, version in versions}


def test_repeated_and_out_of_order_envelopes(tmp_path: Path) -> None:
    tirana, sofia = _pair(tmp_path)  # tirana itself never runs: the test speaks for it
    v1, v2 = "2026-01-02T00:00:00.000Z", "2026-01-03T00:00:00.000Z"
    once = _objects(40, "twice-", modified=v1)
    later = [indicator(o["pattern"], id=o["id"], modified=v2) for o in _objects(20, "late-")]
    earlier = [{**o, "modified": v1} for o in later]
    mixed_new = [indicator(o["pattern"], id=o["id"], modified=v2) for o in _objects(10, "mix-")]
    mixed = [*mixed_new, *({**o, "modified": v1} for o in mixed_new)]
    expected = _versions(once) | _versions(later) | _versions(earlier) | _versions(mixed)
    try:
        sofia.start()
        first = _push_as(tirana, sofia, once)
        again = _push_as(tirana, sofia, once)  # the same envelope, byte for byte
        for status in (first, again):
            assert (status["success_count"], status["failure_count"]) == (40, 0)
            assert _successes(status) == _taxii(_versions(once))
        assert sofia.count() == 40

        # the same envelope from several connections at once
        results: list[Any] = []
        threads = [
            threading.Thread(target=lambda: results.append(_push_as(tirana, sofia, once)))
            for _ in range(3)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert len(results) == 3
        assert all(s["success_count"] == 40 and s["failure_count"] == 0 for s in results)

        # version 2 before version 1: in separate envelopes, then within one
        assert _push_as(tirana, sofia, later)["success_count"] == 20
        assert _push_as(tirana, sofia, earlier)["success_count"] == 20
        status = _push_as(tirana, sofia, mixed)
        assert (status["success_count"], status["failure_count"]) == (20, 0)

        _assert_exactly(sofia, expected)
        with sofia.store() as store:
            for obj in once:
                current = store.current(obj["id"])
                assert current is not None and current.version == v1
            for obj in [*later, *mixed_new]:
                current = store.current(obj["id"])
                assert current is not None and current.version == v2, obj["id"]
            with store.engine.connect() as conn:
                per_id = conn.exec_driver_sql(
                    "SELECT id, count(*), sum(is_current) FROM objects GROUP BY id"
                ).all()
        assert len(per_id) == 70
        assert all(int(currents) == 1 for _oid, _n, currents in per_id)
        assert sorted(int(n) for _oid, n, _c in per_id) == [1] * 40 + [2] * 30
        assert sofia.status()["tirana"]["rejected"] == 0
    finally:
        _stop_all(tirana, sofia)


# -- 5. a sender whose clock is an hour off -----------------------------------------------


def _skewed_batches() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """What a sender an hour ahead writes, then the same sender an hour behind: new objects
    each time, and objects whose later-sent version is the older one."""
    now = datetime.now(UTC)
    ahead, behind = _stamp(now + timedelta(hours=1)), _stamp(now - timedelta(hours=1))
    base = _stamp(now - timedelta(hours=2))
    shared = _objects(20, "skew-both-", created=base)
    future = [
        *_objects(30, "skew-ahead-", created=ahead),
        *({**o, "modified": ahead} for o in shared),
    ]
    past = [
        *_objects(30, "skew-behind-", created=behind),
        *({**o, "modified": behind} for o in shared),
    ]
    return future, past, [o["id"] for o in shared]


def _check_skewed_delivery(
    tirana: Instance,
    sofia: Instance,
    future: list[dict[str, Any]],
    past: list[dict[str, Any]],
    shared: list[str],
) -> None:
    amber = _objects(3, "skew-amber-", tlp="amber", created=future[0]["created"])
    _post_all(tirana, amber + future)
    wait_for(lambda: _versions(future) <= sofia.versions(), 60, "the future-dated batch")
    _post_all(tirana, past)  # sent later, the older version of the shared objects
    expected = _versions(future) | _versions(past)
    wait_for(lambda: _drained(tirana, sofia, expected), 60, "the past-dated batch")
    _assert_exactly(sofia, expected)

    ahead = future[-1]["modified"]
    with sofia.store() as store:
        for oid in shared:
            current = store.current(oid)
            assert current is not None and current.version == ahead, oid
        with store.engine.connect() as conn:
            seqs = [int(s) for (s,) in conn.exec_driver_sql("SELECT seq FROM objects").all()]
            one = future[0]["id"]
            (seq_one,) = conn.exec_driver_sql("SELECT seq FROM objects WHERE id=?", (one,)).one()
        relays = store.provenance_many(seqs)
        single = store.provenance_of(int(seq_one))
    assert set(relays) == set(seqs), "a delivered version has no provenance"
    assert single is not None and single == relays[int(seq_one)]
    for relay in relays.values():
        assert relay.origin == tirana.key_id
        assert [hop.instance for hop in relay.path] == [tirana.key_id, sofia.key_id]
        assert relay.signature is not None and tirana.key_id in relay.signature


def test_sender_clock_an_hour_off_either_way(tmp_path: Path) -> None:
    tirana, sofia = _pair(tmp_path)
    future, past, shared = _skewed_batches()
    try:
        sofia.start()
        tirana.start()
        _check_skewed_delivery(tirana, sofia, future, past, shared)
    finally:
        _stop_all(tirana, sofia)


def test_sender_process_under_faketime(tmp_path: Path) -> None:
    """The same, with Tirana's own clock an hour ahead (its date_added and provenance hop)."""
    faketime = shutil.which("faketime")
    if faketime is None:
        pytest.skip(
            "faketime is not installed: the sender process cannot be run with a skewed "
            "clock here (the skewed-timestamp delivery is tested without it above)"
        )
    tirana, sofia = _pair(tmp_path)
    wrapper = tmp_path / "mburoja-ahead"
    wrapper.write_text(f'#!/bin/sh\nexec {faketime} -f "+1h" {Instance.program} "$@"\n')
    wrapper.chmod(0o755)
    tirana.program = str(wrapper)
    future, past, shared = _skewed_batches()
    try:
        sofia.start()
        tirana.start(timeout_s=60)
        _check_skewed_delivery(tirana, sofia, future, past, shared)
        with sofia.store() as store, store.engine.connect() as conn:
            seqs = [int(s) for (s,) in conn.exec_driver_sql("SELECT seq FROM objects").all()]
        with sofia.store() as store:
            relays = store.provenance_many(seqs)
        for relay in relays.values():
            sent, received = (datetime.fromisoformat(h.received) for h in relay.path)
            assert sent - received > timedelta(minutes=30), "tirana's clock was not skewed"
    finally:
        _stop_all(tirana, sofia)
