"""Pushing the outbox to one peer: TAXII POST in batches, status watched, outcome recorded.

Each round takes the oldest versions owed to the peer and asks the policy again, with the
peer as caller, about each one *and* about the object's current version: a marking tightened
since the commit (AMBER to RED, say) withholds every version not yet sent. What may go is
sent as the peer may see it (granular markings removed), signed, with its provenance.

Outcomes, object by object, from the peer's status resource:

- accepted (new or already there: delivery is idempotent by id and version): leaves the
  outbox, counted as delivered;
- refused: stays in the outbox as ``failed`` with the peer's message, visible in
  ``mburoja peer status``, until ``mburoja peer retry``;
- not reported, or the status never completed: stays pending and goes again.

Errors: a transient one (connection refused or cut, time-out, 5xx, 429) raises
``FetchTransient`` and the worker retries with backoff and jitter. An envelope the peer
refuses whole (400, 413, 422) is split in halves until the object it cannot take is alone,
and only that one fails. Refused credentials or a missing collection (401, 403, 404)
raise ``PeerUnavailable``: nothing is marked failed, since nothing is wrong with the objects.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mburoja.config import Settings
from mburoja.errors import ConfigError, FetchError, FetchTransient, InputTooLarge, MburojaError
from mburoja.federation.relay import PROVENANCE_PROPERTY, Trail, encode_trails, outgoing
from mburoja.federation.signing import ObjectSignature, key_id, with_signatures
from mburoja.policy import Caller, Policy
from mburoja.stix import timestamps
from mburoja.store.outbox import OutboxItem
from mburoja.store.peers import Peer
from mburoja.store.sql import SqlStore
from mburoja.taxii.client import Status, TaxiiClient

log = logging.getLogger(__name__)

_PEER_LEVEL = frozenset({401, 403, 404})
_SPLIT = frozenset({400, 413, 422})


class PeerUnavailable(MburojaError):
    """The peer refuses us, not the objects: credentials, rights or a missing collection."""


class _Out(msgspec.Struct, frozen=True):
    item: OutboxItem
    body: bytes  # what the peer gets: the stored bytes, or a redacted copy
    signature: ObjectSignature | None
    trail: Trail
    taxii_version: str | None


def peer_client(settings: Settings, peer: Peer) -> TaxiiClient:
    """A TAXII client with the peer's credentials from the environment. Peers are configured
    by an administrator, so private and loopback addresses are allowed for them."""
    secret = None
    if peer.secret_env:
        secret = os.environ.get(peer.secret_env)
        if not secret:
            raise ConfigError(
                f"peer {peer.name!r}: the environment variable {peer.secret_env} that should "
                "hold its token or password is not set; set it and restart"
            )
    fetch = msgspec.structs.replace(settings.fetch, allow_private=True)
    if peer.user and secret:
        return TaxiiClient(fetch, settings.limits.max_input_bytes, auth=(peer.user, secret))
    return TaxiiClient(fetch, settings.limits.max_input_bytes, token=secret)


def _taxii_version(version: str) -> str | None:
    if not version:
        return None
    with contextlib.suppress(ValueError):
        return timestamps.to_taxii(version)
    return None


def _age_s(stamp: str) -> float:
    then = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return max(0.0, (datetime.now(UTC) - then).total_seconds())


class Pusher:
    """Delivers one peer's outbox. Not thread-safe: one per peer, in one worker."""

    def __init__(
        self,
        store: SqlStore,
        settings: Settings,
        peer: Peer,
        key: Ed25519PrivateKey,
        policy: Policy,
        client: TaxiiClient | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.peer = peer
        self.key = key
        self.instance = key_id(key.public_key())
        self.policy = policy
        self.caller: Caller = store.peer_caller(peer.id)
        self.client = client or peer_client(settings, peer)
        self._room: int | None = None

    def close(self) -> None:
        self.client.close()

    # -- one round -----------------------------------------------------------------------

    def run_once(self) -> int:
        """Push one batch; returns how many outbox rows it settled (0: nothing owed)."""
        items = self.store.outbox_next(self.peer.id, self.settings.federation.batch_size)
        if not items:
            return 0
        sendable, withheld = self._decide(items)
        if withheld:
            self.store.outbox_settle(self.peer.id, withheld=withheld)
        settled = len(withheld)
        for chunk in self._chunks(sendable):
            settled += self._deliver(chunk)
        return settled

    def _decide(self, items: Sequence[OutboxItem]) -> tuple[list[_Out], list[int]]:
        views = self.policy.views(
            self.caller, [(i.owner, i.markings, i.raw, i.inspect) for i in items]
        )
        current = self.store.current_many([i.id for i in items if not i.is_current])
        out: list[_Out] = []
        withheld: list[int] = []
        for item, view in zip(items, views, strict=True):
            now = current.get(item.id)
            if view is None or (
                now is not None
                and not self.policy.visible(self.caller, now.owner, now.markings, now.raw)
            ):
                withheld.append(item.seq)
                continue
            out.append(self._prepared(item, view))
        return out, withheld

    def _prepared(self, item: OutboxItem, view: bytes) -> _Out:
        signature, trail = outgoing(
            self.key, item.id, item.version, item.date_added, item.raw, view, item.relay
        )
        return _Out(item, view, signature, trail, _taxii_version(item.version))

    def _chunks(self, outs: list[_Out]) -> list[list[_Out]]:
        room = min(self.settings.federation.max_batch_bytes, self._peer_room())
        chunks: list[list[_Out]] = []
        current: list[_Out] = []
        size = 0
        for out in outs:
            cost = len(out.body) + 300  # the signature and provenance beside it
            if current and size + cost > room:
                chunks.append(current)
                current, size = [], 0
            current.append(out)
            size += cost
        if current:
            chunks.append(current)
        return chunks

    def _peer_room(self) -> int:
        if self._room is None:
            try:
                found = self.client.api_root(self.peer.api_root).get("max_content_length")
                self._room = int(found) if isinstance(found, int) and found > 0 else 1 << 62
            except (FetchError, InputTooLarge, ValueError):
                return 1 << 62  # ask again next round
        return self._room

    # -- delivery ------------------------------------------------------------------------

    def _envelope(self, chunk: list[_Out]) -> bytes:
        return with_signatures(
            [o.body for o in chunk],
            [o.signature for o in chunk if o.signature is not None],
            {PROVENANCE_PROPERTY: encode_trails([o.trail for o in chunk])},
        )

    def _deliver(self, chunk: list[_Out]) -> int:
        """Send one chunk to every push collection; settle what the peer decided."""
        accepted: set[int] = {o.item.seq for o in chunk}
        failed: dict[int, str] = {}
        for collection in self.peer.push:
            ok, refused = self._post(collection, chunk)
            accepted &= ok
            for seq, message in refused.items():
                failed.setdefault(seq, f"{collection}: {message}")
        accepted -= set(failed)
        lag = max(
            (_age_s(o.item.date_added) for o in chunk if o.item.seq in accepted), default=None
        )
        if accepted or failed:
            self.store.outbox_settle(
                self.peer.id,
                delivered=sorted(accepted),
                failed=sorted(failed.items()),
                lag_s=lag,
            )
        return len(accepted) + len(failed)

    def _post(self, collection: str, chunk: list[_Out]) -> tuple[set[int], dict[int, str]]:
        """(accepted seqs, refused seqs with the peer's reason) for one collection."""
        try:
            status = self.client.add_objects(self.peer.api_root, collection, self._envelope(chunk))
        except FetchTransient:
            raise
        except (FetchError, InputTooLarge) as exc:
            code = getattr(exc, "status", None)
            if code in _PEER_LEVEL:
                raise PeerUnavailable(f"peer {self.peer.name!r}: {exc}") from exc
            if code not in _SPLIT and code is not None:
                raise PeerUnavailable(f"peer {self.peer.name!r}: {exc}") from exc
            if len(chunk) == 1:
                return set(), {chunk[0].item.seq: str(exc)}
            half = len(chunk) // 2
            ok_a, bad_a = self._post(collection, chunk[:half])
            ok_b, bad_b = self._post(collection, chunk[half:])
            return ok_a | ok_b, {**bad_a, **bad_b}
        status = self._settled(status)
        return self._outcome(status, chunk)

    def _settled(self, status: Status) -> Status:
        """Poll the peer's status resource until it completes or the wait runs out."""
        deadline = time.monotonic() + self.settings.federation.status_timeout_s
        pause = 0.02
        while status.status != "complete" and time.monotonic() < deadline:
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
            status = self.client.status(self.peer.api_root, status.id)
        return status

    @staticmethod
    def _outcome(status: Status, chunk: list[_Out]) -> tuple[set[int], dict[int, str]]:
        by_version: dict[tuple[str, str | None], int] = {}
        by_id: dict[str, list[int]] = {}
        for out in chunk:
            by_version[(out.item.id, out.taxii_version)] = out.item.seq
            by_id.setdefault(out.item.id, []).append(out.item.seq)

        def seqs(detail_id: str, version: str | None) -> list[int]:
            found = by_version.get((detail_id, _taxii_version(version or "")))
            if found is not None:
                return [found]
            return by_id.get(detail_id, []) if version is None else []

        accepted: set[int] = set()
        refused: dict[int, str] = {}
        for detail in status.successes or ():
            accepted.update(seqs(detail.id, detail.version))
        for detail in status.failures or ():
            for seq in seqs(detail.id, detail.version):
                refused[seq] = detail.message or "refused by the peer (no reason given)"
        if (
            status.status == "complete"
            and not status.successes
            and not status.failures
            and status.success_count == len(chunk)
        ):
            accepted = {o.item.seq for o in chunk}  # a server that reports counts only
        return accepted - set(refused), refused
