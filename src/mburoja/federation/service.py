"""The federation workers that run inside ``mburoja serve`` (or ``mburoja peer sync``).

One push thread per enabled peer with push collections, one pull thread per peer with pull
collections. A push worker wakes at once when this process commits something a peer is owed,
and polls every ``federation.poll_s`` for what other processes (a CLI ingest) committed.
A supervisor re-reads the peers every two seconds, starting, stopping and restarting workers
as peers are added, removed, disabled or changed.

Errors never stop a worker: each is recorded as the peer's last error and retried with
exponential backoff and jitter (at least five seconds when the peer refuses us outright).
"""

from __future__ import annotations

import functools
import logging
import random
import threading
from collections.abc import Callable
from typing import TypeVar

from mburoja.config import Settings
from mburoja.federation.pull import Puller
from mburoja.federation.push import PeerUnavailable, Pusher
from mburoja.federation.relay import Vetter
from mburoja.federation.signing import InstanceKey
from mburoja.policy import Policy
from mburoja.store.peers import Peer
from mburoja.store.sql import SqlStore

log = logging.getLogger(__name__)

_SUPERVISE_S = 2.0
_W = TypeVar("_W", Pusher, Puller)
_REFUSED_MIN_S = 5.0


class _Worker:
    def __init__(self, name: str, target: Callable[[threading.Event], None]) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=target, args=(self.stop,), name=name, daemon=True)
        self.thread.start()


class Federation:
    """Starts and supervises the push and pull workers of every peer."""

    def __init__(
        self, store: SqlStore, settings: Settings, key: InstanceKey, policy: Policy
    ) -> None:
        self.store = store
        self.settings = settings
        self.key = key
        self.policy = policy
        self._stop = threading.Event()
        self._workers: dict[tuple[str, Peer], _Worker] = {}
        self._supervisor: threading.Thread | None = None

    def start(self) -> None:
        self._supervisor = threading.Thread(target=self._supervise, name="federation", daemon=True)
        self._supervisor.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout)
        for worker in self._workers.values():
            worker.stop.set()
        for worker in self._workers.values():
            worker.thread.join(timeout)
        self._workers.clear()

    # -- supervision ---------------------------------------------------------------------

    def _supervise(self) -> None:
        while not self._stop.is_set():
            try:
                self._reconcile()
            except Exception:
                log.exception("federation: cannot read the peers; trying again")
            self._stop.wait(_SUPERVISE_S)

    def _reconcile(self) -> None:
        wanted: set[tuple[str, Peer]] = set()
        for peer in self.store.peers():
            if not peer.enabled:
                continue
            if peer.push:
                wanted.add(("push", peer))
            if peer.pull:
                wanted.add(("pull", peer))
        for key in list(self._workers):
            if key not in wanted:
                self._workers.pop(key).stop.set()
        for key in wanted - set(self._workers):
            kind, peer = key
            loop = self._push_loop if kind == "push" else self._pull_loop
            self._workers[key] = _Worker(f"{kind}:{peer.name}", functools.partial(loop, peer))

    # -- the loops -----------------------------------------------------------------------

    def _push_loop(self, peer: Peer, stop: threading.Event) -> None:
        wake = threading.Event()
        forget = self.store.on_enqueue(wake.set)

        def idle() -> None:
            wake.wait(self.settings.federation.poll_s)
            wake.clear()

        try:
            self._run(
                peer,
                "push",
                stop,
                lambda: Pusher(self.store, self.settings, peer, self.key.private, self.policy),
                lambda pusher: pusher.run_once() > 0,  # busy: go again at once
                idle,
            )
        finally:
            forget()

    def _pull_loop(self, peer: Peer, stop: threading.Event) -> None:
        def pull(puller: Puller) -> bool:
            puller.run_once()
            return False  # caught up: wait for the next round

        self._run(
            peer,
            "pull",
            stop,
            lambda: Puller(self.store, self.settings, peer, Vetter(self.store, self.key)),
            pull,
            lambda: stop.wait(self.settings.federation.pull_every_s),
        )

    def _run(
        self,
        peer: Peer,
        what: str,
        stop: threading.Event,
        make: Callable[[], _W],
        step: Callable[[_W], bool],
        idle: Callable[[], object],
    ) -> None:
        """Run ``step`` on a worker made by ``make`` until stopped: again at once while it
        is busy, after ``idle`` otherwise; errors are recorded and retried with backoff."""
        worker: _W | None = None
        failures = 0
        try:
            while not stop.is_set() and not self._stop.is_set():
                try:
                    if worker is None:
                        worker = make()
                    busy = step(worker)
                    if failures:
                        self.store.peer_error(peer.id, None)
                        failures = 0
                    if not busy:
                        idle()
                except Exception as exc:
                    failures += 1
                    self._failed(peer, what, exc, failures, stop)
        finally:
            if worker is not None:
                worker.close()

    def _failed(
        self, peer: Peer, what: str, exc: Exception, failures: int, stop: threading.Event
    ) -> None:
        message = f"{what}: {exc}"
        log.warning("peer %s: %s (attempt %d)", peer.name, message, failures)
        try:
            self.store.peer_error(peer.id, message)
        except Exception:
            log.exception("peer %s: cannot record the error", peer.name)
        fed = self.settings.federation
        delay = min(fed.backoff_max_s, fed.backoff_s * 2 ** (failures - 1))
        delay *= random.uniform(0.5, 1.5)
        if isinstance(exc, PeerUnavailable):
            delay = max(delay, _REFUSED_MIN_S)
        stop.wait(delay)
