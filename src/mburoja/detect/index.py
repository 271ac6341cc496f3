"""The active indicator index: the indicators valid now, compiled, kept current.

An indicator is *active* when ``valid_from <= now < valid_until`` (no ``valid_until``: open
ended), it is not revoked, and its ``confidence`` (when given) is at least the configured
floor. :class:`IndexFeed` reads the store's current indicator versions in commit order and
turns them into *changes* (:class:`Delta`): indicators to add, ids to drop. It remembers how
far it has read (the store's ``seq``), holds back indicators whose ``valid_from`` is still
ahead, and expires those whose ``valid_until`` passes, so each refresh costs only what
changed. The matchers (:mod:`mburoja.detect.reference`, :mod:`mburoja.detect.columnar`)
apply the deltas to their own structures.

An indicator whose keys hit a warning list (:mod:`mburoja.lifecycle.warninglists`) is held
out of the active set: it is counted by list and kept in ``held``, never handed to a
matcher.

An indicator whose source has a decay model (:mod:`mburoja.lifecycle.decay`) leaves the
active set when its score reaches the model's threshold: its effective expiry is the
earlier of ``valid_until`` and that moment, on the same expiry heap. A decayed indicator is
kept (``decayed``) so that a sighting of it, read from the store's sighting versions in
commit order, brings it back; a sighting of an active one pushes its drop moment later.

A full-snapshot feed that still lists a value also keeps it fresh (``store.listed_times``:
the value's indicator is stored once, and later runs find it unchanged). That is checked
lazily, so a refresh costs at most one bulk read of listings: for the indicators whose
drop moment came due in it (those a feed listed since get a later drop moment instead of
leaving), and, only when a feed run was recorded since the last look, for the decayed ones
(a feed that lists one again brings it back).

:func:`active_indicators` is the one-shot form the sensor exports use: every active
indicator that a caller may see, compiled.
"""

from __future__ import annotations

import heapq
import time
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

import msgspec
import orjson

from mburoja.detect.compile import Compiled, NotCompiled, compile_indicator, reasons_count
from mburoja.lifecycle.decay import Decay, DecayModels, defaults, fold_sightings, sighting_of
from mburoja.stix import timestamps

if TYPE_CHECKING:
    from mburoja.lifecycle.warninglists import Hit, WarningLists
    from mburoja.policy import Caller
    from mburoja.store.sql import SqlStore

_FAR: Final = float("inf")


def epoch(stamp: str | None) -> float | None:
    """A STIX timestamp as epoch seconds (None stays None; an unparsable one is None)."""
    if not stamp:
        return None
    try:
        return timestamps.parse(stamp).timestamp()
    except (ValueError, TypeError):
        return None


class Delta(msgspec.Struct, kw_only=True):
    """What changed in the active set: ``removed`` ids go first, then ``added`` (a new
    version of an active indicator appears in both)."""

    added: list[Compiled] = msgspec.field(default_factory=list)
    removed: list[str] = msgspec.field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)


class IndexReport(msgspec.Struct, kw_only=True):
    """What the feed has seen, for ``mburoja match --stats`` and the logs."""

    active: int = 0
    pending: int = 0
    expired: int = 0
    revoked: int = 0
    low_confidence: int = 0
    not_compiled: dict[str, int] = msgspec.field(default_factory=dict)
    #: indicators held out because a key hit a warning list, by "warning list <name>"
    warning_listed: dict[str, int] = msgspec.field(default_factory=dict)
    #: current indicators held out because their decay score is at or under the threshold
    decayed: int = 0
    keys: int = 0
    build_s: float = 0.0


class IndexFeed:
    """Turns the store's indicator versions into deltas of the active set."""

    def __init__(
        self,
        store: SqlStore,
        *,
        confidence_floor: int = 0,
        batch: int = 20_000,
        warninglists: WarningLists | None = None,
        decay: DecayModels | None = None,
    ):
        self.store = store
        #: the decay models (None: the shipped ones; ``DecayModels(())``: no decay)
        self.decay = defaults() if decay is None else decay
        self.warninglists = warninglists
        self.floor = confidence_floor
        self.batch = batch
        self.seq = 0
        self.active: dict[str, float] = {}  # id -> valid_until (inf: none)
        self._expiry: list[tuple[float, str]] = []  # heap of (valid_until, id)
        self._pending: list[tuple[float, int, Compiled]] = []  # heap by valid_from
        self._pending_ids: dict[str, int] = {}  # id -> token of its live pending entry
        self._token = 0
        self.rejects: dict[str, NotCompiled] = {}
        #: current indicators held out by a warning list: id -> the hit
        self.held: dict[str, Hit] = {}
        self.counts = IndexReport()
        self.sighting_seq = 0
        #: indicator id -> the newest time a sighting of it was seen (capped at read time)
        self.sighted: dict[str, float] = {}
        #: current compiled indicators a decay model takes: id -> (compiled, decay)
        self.tracked: dict[str, tuple[Compiled, Decay]] = {}
        #: tracked indicators held out because they decayed: ids
        self.decayed: set[str] = set()
        #: the newest feed run recorded when the index last looked (``store.newest_feed_run``)
        self.feed_run_seen = 0
        #: tracked ids whose decay drop came due in this refresh: checked against feed
        #: listings at its end (``_settle``)
        self._due: set[str] = set()

    def report(self) -> IndexReport:
        r = self.counts
        r.active = len(self.active)
        r.pending = len(self._pending_ids)
        r.not_compiled = reasons_count(self.rejects.values())
        held = Counter(hit.reason for hit in self.held.values())
        r.warning_listed = dict(sorted(held.items(), key=lambda kv: (-kv[1], kv[0])))
        r.decayed = len(self.decayed)
        return r

    def refresh(self, now: float | None = None) -> Delta:
        """Read what was committed since the last call and what time has changed."""
        now = time.time() if now is None else now
        delta = Delta()
        touched: set[str] = set()
        if self.decay:
            touched = self._read_sightings(now)
            mark = self.store.newest_feed_run()
            if mark != self.feed_run_seen:
                self.feed_run_seen = mark
                self._due |= self.decayed  # a feed that ran may list some of them again
        rows = self.store.indicator_versions(self.seq, self.batch, with_source=True)
        for seq, owner, raw, source in rows:
            self.seq = max(self.seq, seq)
            obj = orjson.loads(raw)
            touched.discard(str(obj.get("id")))
            self._take(obj, owner, source, now, delta)
        for indicator_id in sorted(touched):
            self._resighted(indicator_id, now, delta)
        self._tick(now, delta)
        self._settle(now, delta)
        return delta

    def _read_sightings(self, now: float) -> set[str]:
        """Take in the sightings committed since the last call; the ids whose newest
        sighting moved later."""
        touched: set[str] = set()
        while rows := self.store.sighting_versions(self.sighting_seq, self.batch):
            for seq, _owner, _markings, raw in rows:
                self.sighting_seq = max(self.sighting_seq, seq)
                found = sighting_of(orjson.loads(raw))
                if found is None:
                    continue
                ref, seen = found[0], min(found[1], now)
                if seen > self.sighted.get(ref, float("-inf")):
                    self.sighted[ref] = seen
                    touched.add(ref)
        return touched

    def _resighted(self, indicator_id: str, now: float, delta: Delta) -> None:
        """A newer sighting of a tracked indicator: a later drop, or back into the set."""
        entry = self.tracked.get(indicator_id)
        if entry is None:
            return
        found, decay = entry
        renewed = decay.resighted(self.sighted[indicator_id])
        if renewed is decay:
            return
        self.tracked[indicator_id] = (found, renewed)
        until = self._until(found)
        if indicator_id in self.active:
            self.active[indicator_id] = until
            if until != _FAR:
                heapq.heappush(self._expiry, (until, indicator_id))
        elif indicator_id in self.decayed:
            valid_until = epoch(found.valid_until)
            if valid_until is not None and valid_until <= now:
                self.decayed.discard(indicator_id)  # its validity ended meanwhile
                self.tracked.pop(indicator_id, None)
                self.counts.expired += 1
            elif until > now:
                self.decayed.discard(indicator_id)
                self._activate(found, until, delta)

    def _settle(self, now: float, delta: Delta) -> None:
        """Decide the indicators whose decay drop came due in this refresh, with one bulk
        read of when full-snapshot feeds last listed them: one listed since gets a later
        drop moment (and an active one stays, a decayed one comes back); the others leave
        or stay out."""
        due = sorted(i for i in self._due if i in self.tracked)
        self._due = set()
        if not due:
            return
        listed = self.store.listed_times(due)
        for indicator_id in due:
            found, decay = self.tracked[indicator_id]
            got = listed.get(indicator_id)
            if got is not None:
                self.tracked[indicator_id] = (found, decay.relisted(got, now))
            until = self._until(found)
            if indicator_id in self.active:
                if until > now:
                    if self.active[indicator_id] != until:
                        self.active[indicator_id] = until
                        if until != _FAR:
                            heapq.heappush(self._expiry, (until, indicator_id))
                    continue
                del self.active[indicator_id]
                delta.removed.append(indicator_id)
                self._fall(indicator_id, found, now)
            elif indicator_id in self.decayed:
                if until > now:
                    self.decayed.discard(indicator_id)
                    self._activate(found, until, delta)
                else:
                    self._fall(indicator_id, found, now)

    def _fall(self, indicator_id: str, found: Compiled, now: float) -> None:
        """A tracked indicator out of the active set: decayed while ``valid_until`` is
        ahead, else expired and no longer tracked."""
        valid_until = epoch(found.valid_until)
        if valid_until is None or now < valid_until:
            self.decayed.add(indicator_id)
        else:
            self.decayed.discard(indicator_id)
            self.tracked.pop(indicator_id, None)
            self.counts.expired += 1

    def _until(self, found: Compiled) -> float:
        """The effective expiry: the earlier of ``valid_until`` and the decay drop."""
        until = epoch(found.valid_until)
        out = _FAR if until is None else until
        entry = self.tracked.get(found.id)
        return out if entry is None else min(out, entry[1].until())

    def _drop(self, indicator_id: str, delta: Delta) -> None:
        if self.active.pop(indicator_id, None) is not None:
            delta.removed.append(indicator_id)
        self._pending_ids.pop(indicator_id, None)
        self.rejects.pop(indicator_id, None)
        self.held.pop(indicator_id, None)
        self.tracked.pop(indicator_id, None)
        self.decayed.discard(indicator_id)

    def _take(
        self, obj: dict[str, Any], owner: str | None, source: str | None, now: float, delta: Delta
    ) -> None:
        indicator_id = str(obj.get("id"))
        self._drop(indicator_id, delta)
        if obj.get("revoked") is True:
            self.counts.revoked += 1
            return
        confidence = obj.get("confidence")
        if isinstance(confidence, int) and confidence < self.floor:
            self.counts.low_confidence += 1
            return
        found = compile_indicator(obj, owner)
        if isinstance(found, NotCompiled):
            self.rejects[indicator_id] = found
            return
        if self.warninglists:
            hit = self.warninglists.indicator(found)
            if hit is not None:
                self.held[indicator_id] = hit
                return
        until = epoch(found.valid_until)
        if until is not None and until <= now:
            self.counts.expired += 1
            return
        if self.decay:
            kinds = {key.kind for key in found.keys}
            decay = self.decay.decay(obj, source, kinds, self.sighted.get(indicator_id), now)
            if decay is not None:
                self.tracked[indicator_id] = (found, decay)
        start = epoch(found.valid_from)
        if start is not None and start > now:
            self._token += 1
            self._pending_ids[indicator_id] = self._token
            heapq.heappush(self._pending, (start, self._token, found))
            return
        self._start(found, now, delta)

    def _start(self, found: Compiled, now: float, delta: Delta) -> None:
        """Activate ``found`` (valid now) unless it has decayed already (then ``_settle``
        checks whether a feed listed it since)."""
        until = self._until(found)
        if until <= now:
            self.decayed.add(found.id)  # valid_until is ahead: only the decay is past
            self._due.add(found.id)
            return
        self._activate(found, until, delta)

    def _activate(self, found: Compiled, until: float, delta: Delta) -> None:
        self.active[found.id] = until
        if until != _FAR:
            heapq.heappush(self._expiry, (until, found.id))
        delta.added.append(found)

    def _tick(self, now: float, delta: Delta) -> None:
        while self._pending and self._pending[0][0] <= now:
            _start, token, found = heapq.heappop(self._pending)
            if self._pending_ids.get(found.id) != token:
                continue  # superseded by a later version
            del self._pending_ids[found.id]
            until = epoch(found.valid_until)
            if until is not None and until <= now:
                self.counts.expired += 1
                continue
            self._start(found, now, delta)
        while self._expiry and self._expiry[0][0] <= now:
            until, indicator_id = heapq.heappop(self._expiry)
            if self.active.get(indicator_id) == until:
                entry = self.tracked.get(indicator_id)
                valid_until = None if entry is None else epoch(entry[0].valid_until)
                if entry is not None and (valid_until is None or now < valid_until):
                    self._due.add(indicator_id)  # the decay drop: ``_settle`` decides
                    continue
                del self.active[indicator_id]
                delta.removed.append(indicator_id)
                self.tracked.pop(indicator_id, None)
                self.counts.expired += 1


def sightings_seen(
    store: SqlStore, caller: Caller | None = None, *, now: float | None = None
) -> dict[str, float]:
    """Indicator id -> the newest time a sighting of it that ``caller`` may see (None: any)
    was seen, capped at ``now`` (a sighting dated ahead counts as now)."""
    now = time.time() if now is None else now
    policy = store.policy() if caller is not None else None
    seen: dict[str, float] = {}
    seq = 0
    while rows := store.sighting_versions(seq, 20_000):
        seq = max(seq, fold_sightings(seen, rows, policy, caller, now))
    return seen


def active_indicators(
    store: SqlStore,
    caller: Caller | None = None,
    *,
    now: float | None = None,
    confidence_floor: int = 0,
    rejects: list[NotCompiled] | None = None,
    warninglists: WarningLists | None = None,
    held_out: list[tuple[Compiled, Hit]] | None = None,
    decay: DecayModels | None = None,
    decayed: list[tuple[Compiled, Decay]] | None = None,
) -> Iterator[Compiled]:
    """Every indicator active at ``now`` that ``caller`` may see (None: no policy check),
    compiled, in commit order. What cannot be compiled goes to ``rejects`` when given; an
    active one whose keys hit one of ``warninglists`` is left out, and goes with its hit
    to ``held_out`` when given; one whose decay score (``decay`` None: the shipped models)
    is at or under its model's threshold at ``now`` is left out, and goes with its decay to
    ``decayed`` when given. Only sightings the caller may see reset a score here; so does a
    full-snapshot feed's listing of the value (``store.listed_times``, read once per batch
    of 20,000 for the indicators that would decay without it)."""
    now = time.time() if now is None else now
    models = defaults() if decay is None else decay
    seen = sightings_seen(store, caller, now=now) if models else {}
    policy = store.policy() if caller is not None else None
    seq = 0
    while True:
        rows = store.indicator_versions(seq, 20_000, with_markings=True, with_source=True)
        if not rows:
            return
        batch: list[tuple[Compiled, Decay | None]] = []
        fallen: list[str] = []
        for row_seq, owner, raw, markings, source in rows:
            seq = max(seq, row_seq)
            if policy is not None and caller is not None:
                view = policy.view(caller, owner, markings, raw)
                if view is None:
                    continue
                raw = view
            obj = orjson.loads(raw)
            if obj.get("revoked") is True:
                continue
            confidence = obj.get("confidence")
            if isinstance(confidence, int) and confidence < confidence_floor:
                continue
            found = compile_indicator(obj, owner)
            if isinstance(found, NotCompiled):
                if rejects is not None:
                    rejects.append(found)
                continue
            start, until = epoch(found.valid_from), epoch(found.valid_until)
            if (start is None or start <= now) and (until is None or now < until):
                hit = warninglists.indicator(found) if warninglists else None
                if hit is not None:
                    if held_out is not None:
                        held_out.append((found, hit))
                    continue
                kinds = {key.kind for key in found.keys}
                fell = models.decay(obj, source, kinds, seen.get(found.id), now) if models else None
                if fell is not None and not fell.active(now):
                    fallen.append(found.id)
                batch.append((found, fell))
        listed = store.listed_times(fallen) if fallen else {}
        for found, fell in batch:
            got = listed.get(found.id)
            if fell is not None and got is not None:
                fell = fell.relisted(got, now)
            if fell is not None and not fell.active(now):
                if decayed is not None:
                    decayed.append((found, fell))
                continue
            yield found
