"""The federation outbox, relay provenance, per-peer counters and pull cursors.

Why the outbox lives in the store: a version must be owed to a peer exactly when it is
committed, or a crash between the two loses it (the sender killed with thousands of objects
queued must deliver them all when it comes back). ``enqueue`` runs inside ``write_batch``'s
transaction; what each peer may receive is decided by the policy with the peer as caller.

A peer is never owed what it sent us (no echo), nor a version whose provenance path already
passed through it (no loops when instances relay for each other).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import Connection, Engine, select

from mburoja.config import PolicySettings
from mburoja.errors import ConfigError, NotFound
from mburoja.policy import Caller, Policy, Relation
from mburoja.stix.model import PreparedObject
from mburoja.store import schema
from mburoja.store.peers import instance_of


class Hop(msgspec.Struct, frozen=True):
    """An instance an object passed through, and when that instance received it."""

    instance: str
    received: str


class Relay(msgspec.Struct, frozen=True, kw_only=True):
    """Where a version a peer sent comes from: ``origin`` (the key id of the instance that
    first committed it), ``path`` (every instance it went through, origin first, with the time
    each received it, this one last) and ``signature``, the origin's detached signature as
    JSON, kept to be passed on unchanged."""

    origin: str
    path: tuple[Hop, ...]
    signature: str | None = None


def relay_key(object_id: str, version: str) -> str:
    """How ``Provenance.relay`` names one version: its id and its modified (or created)."""
    return f"{object_id} {version}"


class OutboxItem(msgspec.Struct, frozen=True, kw_only=True):
    """One version owed to a peer, with what the pusher needs to send it."""

    seq: int
    id: str
    version: str
    raw: bytes
    owner: str | None
    markings: tuple[str, ...]
    inspect: bool
    is_current: bool
    date_added: str
    attempts: int
    relay: Relay | None


class PeerStatus(msgspec.Struct, frozen=True, kw_only=True):
    """What ``mburoja peer status``, ``/api/federation`` and the metrics show for one peer."""

    name: str
    kind: str
    api_root: str
    enabled: bool
    push: tuple[str, ...]
    pull: tuple[str, ...]
    pending: int  # outbox depth: versions owed and not yet accepted
    failed: int  # versions the peer refused, kept with its reason
    lag_s: float  # age of the oldest pending version (0 when nothing is pending)
    delivered: int
    withheld: int  # dropped from the outbox because a newer marking forbids them
    refused: int  # refusals the peer reported, over time
    received: int  # versions this peer sent us that we accepted
    rejected: int  # versions this peer sent us that we quarantined
    last_success: str | None
    last_error: str | None
    last_error_at: str | None
    last_lag_s: float | None


_hops = msgspec.json.Decoder(tuple[Hop, ...])
_COUNTERS = ("delivered", "withheld", "refused", "received", "rejected")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _age_s(stamp: str | None) -> float:
    if not stamp:
        return 0.0
    then = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return max(0.0, (datetime.now(UTC) - then).total_seconds())


class _Pushee(msgspec.Struct, frozen=True):
    id: str
    instance: str
    caller: Caller


class Outbox:
    """Outbox operations over the store's engine (``SqlStore`` mixes it in)."""

    engine: Engine
    dialect: str
    _ph: str
    _write: Callable[[], Any]
    policy_settings: PolicySettings
    _policy_cache: tuple[str, Policy] | None
    _listeners: list[Callable[[], None]]
    _listeners_lock: threading.Lock

    # -- the policy, as the write path needs it ------------------------------------------

    def configure_policy(self, settings: PolicySettings) -> None:
        """Use these policy settings when deciding what each peer is owed."""
        self.policy_settings = settings
        self._policy_cache = None

    def _policy(self, conn: Connection) -> Policy:
        home = conn.exec_driver_sql("SELECT id FROM orgs WHERE relation = 'home'").scalar()
        if home is None:
            raise ConfigError(
                "peers are configured but there is no home organisation: run "
                "`mburoja init --org NAME`"
            )
        cached = self._policy_cache
        if cached is None or cached[0] != home:
            policy = Policy(
                str(home),
                default_level=self.policy_settings.default_tlp,
                neutral=self.policy_settings.neutral_markings,
            )
            cached = self._policy_cache = (str(home), policy)
        return cached[1]

    # -- commit listeners ----------------------------------------------------------------

    def on_enqueue(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` after each commit that owed a peer something (a pusher in this
        process wakes at once; other processes' commits are found by polling)."""
        with self._listeners_lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._listeners_lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def _notify(self) -> None:
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    # -- the write path ------------------------------------------------------------------

    def peer_caller(self, peer_id: str) -> Caller:
        """The peer as the policy sees it when deciding what it may receive."""
        with self.engine.connect() as conn:
            for pushee in self._pushees(conn, every=True):
                if pushee.id == peer_id:
                    return pushee.caller
        raise NotFound(f"no peer with id {peer_id}: see `mburoja peer list`")

    def _pushees(self, conn: Connection, *, every: bool = False) -> list[_Pushee]:
        """Enabled peers we push to (``every``: all peers), each with its caller."""
        where = "" if every else f"WHERE p.enabled = {self._truth} AND p.push <> ''"
        rows = conn.exec_driver_sql(
            "SELECT p.id, p.name, p.public_key, p.org_id, o.relation, o.identity_id "
            f"FROM peers p JOIN orgs o ON o.id = p.org_id {where}"
        ).all()
        return [
            _Pushee(
                pid,
                instance_of(key, name),
                Caller(
                    org_id=org,
                    relation=Relation(relation) if relation != "home" else Relation.SELF,
                    identities=frozenset({identity}),
                    user_name=f"peer:{name}",
                    role="sync",
                    read_only=False,
                ),
            )
            for pid, name, key, org, relation, identity in rows
        ]

    @property
    def _truth(self) -> str:
        return "1" if self.dialect == "sqlite" else "true"

    def _enqueue(
        self,
        conn: Connection,
        inserted: Sequence[tuple[int, PreparedObject]],
        owner: str | None,
        relay: dict[str, Relay] | None,
        date_added: str,
    ) -> int:
        """Owe each pushed-to peer the inserted versions it may receive; record where
        relayed versions came from. Returns how many outbox rows were written."""
        if relay:
            rows = []
            for seq, obj in inserted:
                found = relay.get(relay_key(obj.id, obj.version))
                if found is not None:
                    path = msgspec.json.encode(found.path).decode()
                    rows.append((seq, found.origin, path, found.signature))
            if rows:
                conn.exec_driver_sql(
                    "INSERT INTO provenance (seq, origin, path, signature) "
                    f"VALUES ({', '.join([self._ph] * 4)})",
                    rows,
                )
        pushees = self._pushees(conn)
        if not pushees or not inserted:
            return 0
        policy = self._policy(conn)
        owed: list[tuple[str, int, str, str, int]] = []
        for seq, obj in inserted:
            markings = tuple(obj.markings.split()) if obj.markings else ()
            came = relay.get(relay_key(obj.id, obj.version)) if relay else None
            passed = {hop.instance for hop in came.path} if came else set()
            for peer in pushees:
                if peer.caller.org_id == owner or peer.instance in passed:
                    continue
                if policy.visible(peer.caller, owner, markings, obj.raw):
                    owed.append((peer.id, seq, date_added, "pending", 0))
        if owed:
            conn.exec_driver_sql(
                "INSERT INTO outbox (peer_id, seq, enqueued_at, status, attempts) "
                f"VALUES ({', '.join([self._ph] * 5)})",
                owed,
            )
        return len(owed)

    # -- the pusher's side ---------------------------------------------------------------

    def outbox_next(self, peer_id: str, limit: int) -> list[OutboxItem]:
        """The oldest ``limit`` versions still owed to the peer, in commit order."""
        ph = self._ph
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT b.seq, o.id, o.version, o.raw, o.owner, o.markings, o.inspect, "
                "o.is_current, o.date_added, b.attempts, p.origin, p.path, p.signature "
                "FROM outbox b JOIN objects o ON o.seq = b.seq "
                "LEFT JOIN provenance p ON p.seq = b.seq "
                f"WHERE b.peer_id = {ph} AND b.status = 'pending' ORDER BY b.seq LIMIT {ph}",
                (peer_id, limit),
            ).all()
        items = []
        for seq, oid, version, raw, owner, markings, inspect, current, added, tries, *prov in rows:
            origin, path, signature = prov
            items.append(
                OutboxItem(
                    seq=int(seq),
                    id=oid,
                    version=version,
                    raw=bytes(raw),
                    owner=owner,
                    markings=tuple(markings.split()) if markings else (),
                    inspect=bool(inspect),
                    is_current=bool(current),
                    date_added=added,
                    attempts=int(tries),
                    relay=(
                        Relay(origin=origin, path=_hops.decode(path), signature=signature)
                        if origin is not None
                        else None
                    ),
                )
            )
        return items

    def outbox_settle(
        self,
        peer_id: str,
        *,
        delivered: Sequence[int] = (),
        withheld: Sequence[int] = (),
        failed: Sequence[tuple[int, str]] = (),
        lag_s: float | None = None,
    ) -> None:
        """Record the outcome of one push: delivered and withheld versions leave the
        outbox; versions the peer refused stay, ``failed``, with its reason."""
        ph = self._ph
        with self._write() as conn:
            self._ensure_state(conn, peer_id)
            gone = [(peer_id, seq) for seq in (*delivered, *withheld)]
            if gone:
                conn.exec_driver_sql(
                    f"DELETE FROM outbox WHERE peer_id = {ph} AND seq = {ph}", gone
                )
            if failed:
                conn.exec_driver_sql(
                    "UPDATE outbox SET status = 'failed', attempts = attempts + 1, "
                    f"error = {ph} WHERE peer_id = {ph} AND seq = {ph}",
                    [(message, peer_id, seq) for seq, message in failed],
                )
            sets = [
                "delivered = delivered + " + str(len(delivered)),
                "withheld = withheld + " + str(len(withheld)),
                "refused = refused + " + str(len(failed)),
            ]
            params: list[Any] = []
            if delivered:
                sets.append(f"last_success = {ph}")
                params.append(_now())
            if lag_s is not None:
                sets.append(f"last_lag_s = {ph}")
                params.append(lag_s)
            conn.exec_driver_sql(
                f"UPDATE peer_state SET {', '.join(sets)} WHERE peer_id = {ph}",
                (*params, peer_id),
            )

    def peer_error(self, peer_id: str, message: str | None) -> None:
        """Record (or, with None, clear) the last error talking to a peer."""
        ph = self._ph
        with self._write() as conn:
            self._ensure_state(conn, peer_id)
            conn.exec_driver_sql(
                f"UPDATE peer_state SET last_error = {ph}, last_error_at = {ph} "
                f"WHERE peer_id = {ph}",
                (message, _now() if message else None, peer_id),
            )

    def peer_count(self, peer_id: str, *, received: int = 0, rejected: int = 0) -> None:
        """Count versions a peer sent us: accepted (``received``) and quarantined."""
        if not (received or rejected):
            return
        with self._write() as conn:
            self._ensure_state(conn, peer_id)
            conn.exec_driver_sql(
                f"UPDATE peer_state SET received = received + {int(received)}, "
                f"rejected = rejected + {int(rejected)} WHERE peer_id = {self._ph}",
                (peer_id,),
            )

    def outbox_retry(self, peer_id: str) -> int:
        """Put every version the peer refused back in line; returns how many."""
        ph = self._ph
        with self._write() as conn:
            done = conn.exec_driver_sql(
                f"UPDATE outbox SET status = 'pending', error = NULL WHERE peer_id = {ph} "
                "AND status = 'failed'",
                (peer_id,),
            )
        return int(done.rowcount or 0)

    def outbox_failures(self, peer_id: str, limit: int = 100) -> list[tuple[str, str, str]]:
        """(object id, version, the peer's reason) of versions the peer refused."""
        ph = self._ph
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT o.id, o.version, b.error FROM outbox b JOIN objects o ON o.seq = b.seq "
                f"WHERE b.peer_id = {ph} AND b.status = 'failed' ORDER BY b.seq LIMIT {ph}",
                (peer_id, limit),
            ).all()
        return [(oid, version, error or "") for oid, version, error in rows]

    def _ensure_state(self, conn: Connection, peer_id: str) -> None:
        conn.exec_driver_sql(
            f"INSERT INTO peer_state (peer_id) VALUES ({self._ph}) ON CONFLICT DO NOTHING",
            (peer_id,),
        )

    # -- observability -------------------------------------------------------------------

    def federation_status(self) -> list[PeerStatus]:
        """Every peer's outbox depth, lag, counters and last outcome."""
        with self.engine.connect() as conn:
            depth: dict[tuple[str, str], tuple[int, str | None]] = {
                (pid, status): (int(n), oldest)
                for pid, status, n, oldest in conn.exec_driver_sql(
                    "SELECT peer_id, status, count(*), min(enqueued_at) FROM outbox "
                    "GROUP BY peer_id, status"
                )
            }
            p, s = schema.peers, schema.peer_state
            rows = (
                conn.execute(select(p, *s.c).outerjoin(s, s.c.peer_id == p.c.id).order_by(p.c.name))
                .mappings()
                .all()
            )
        out = []
        for row in rows:
            pending, oldest = depth.get((row["id"], "pending"), (0, None))
            failed, _ = depth.get((row["id"], "failed"), (0, None))
            out.append(
                PeerStatus(
                    name=row["name"],
                    kind=row["kind"],
                    api_root=row["api_root"],
                    enabled=bool(row["enabled"]),
                    push=tuple(row["push"].split()),
                    pull=tuple(row["pull"].split()),
                    pending=pending,
                    failed=failed,
                    lag_s=round(_age_s(oldest), 3),
                    **{name: int(row[name] or 0) for name in _COUNTERS},
                    last_success=row["last_success"],
                    last_error=row["last_error"],
                    last_error_at=row["last_error_at"],
                    last_lag_s=row["last_lag_s"],
                )
            )
        return out

    # -- pull cursors --------------------------------------------------------------------

    def peer_cursor(self, peer_id: str, collection: str) -> bytes | None:
        t = schema.peer_cursors
        with self.engine.connect() as conn:
            found = conn.execute(
                select(t.c.cursor).where(t.c.peer_id == peer_id, t.c.collection == collection)
            ).scalar()
        return found.encode() if found is not None else None

    def save_peer_cursor(self, peer_id: str, collection: str, cursor: bytes) -> None:
        """Remember where the pull of one peer collection stands (after a local commit)."""
        ph = self._ph
        with self._write() as conn:
            conn.exec_driver_sql(
                "INSERT INTO peer_cursors (peer_id, collection, cursor, updated) "
                f"VALUES ({ph}, {ph}, {ph}, {ph}) ON CONFLICT (peer_id, collection) "
                "DO UPDATE SET cursor = excluded.cursor, updated = excluded.updated",
                (peer_id, collection, cursor.decode(), _now()),
            )

    def provenance_of(self, seq: int) -> Relay | None:
        """Where a stored version came from, when a peer sent it."""
        t = schema.provenance
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.seq == seq)).first()
        if row is None:
            return None
        return Relay(origin=row.origin, path=_hops.decode(row.path), signature=row.signature)

    def provenance_many(self, seqs: Sequence[int]) -> dict[int, Relay]:
        """``provenance_of`` for many stored versions at once (those a peer sent)."""
        found: dict[int, Relay] = {}
        wanted = list(seqs)
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                rows = conn.exec_driver_sql(
                    "SELECT seq, origin, path, signature FROM provenance "
                    f"WHERE seq IN ({', '.join([self._ph] * len(chunk))})",
                    tuple(chunk),
                ).all()
                for seq, origin, path, signature in rows:
                    found[int(seq)] = Relay(
                        origin=origin, path=_hops.decode(path), signature=signature
                    )
        return found
