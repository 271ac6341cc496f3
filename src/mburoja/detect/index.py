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
    ):
        self.store = store
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

    def report(self) -> IndexReport:
        r = self.counts
        r.active = len(self.active)
        r.pending = len(self._pending_ids)
        r.not_compiled = reasons_count(self.rejects.values())
        held = Counter(hit.reason for hit in self.held.values())
        r.warning_listed = dict(sorted(held.items(), key=lambda kv: (-kv[1], kv[0])))
        return r

    def refresh(self, now: float | None = None) -> Delta:
        """Read what was committed since the last call and what time has changed."""
        now = time.time() if now is None else now
        delta = Delta()
        for seq, owner, raw in self.store.indicator_versions(self.seq, self.batch):
            self.seq = max(self.seq, seq)
            self._take(orjson.loads(raw), owner, now, delta)
        self._tick(now, delta)
        return delta

    def _drop(self, indicator_id: str, delta: Delta) -> None:
        if self.active.pop(indicator_id, None) is not None:
            delta.removed.append(indicator_id)
        self._pending_ids.pop(indicator_id, None)
        self.rejects.pop(indicator_id, None)
        self.held.pop(indicator_id, None)

    def _take(self, obj: dict[str, Any], owner: str | None, now: float, delta: Delta) -> None:
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
        start = epoch(found.valid_from)
        if start is not None and start > now:
            self._token += 1
            self._pending_ids[indicator_id] = self._token
            heapq.heappush(self._pending, (start, self._token, found))
            return
        self._activate(found, until, delta)

    def _activate(self, found: Compiled, until: float | None, delta: Delta) -> None:
        self.active[found.id] = _FAR if until is None else until
        if until is not None:
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
            self._activate(found, until, delta)
        while self._expiry and self._expiry[0][0] <= now:
            until, indicator_id = heapq.heappop(self._expiry)
            if self.active.get(indicator_id) == until:
                del self.active[indicator_id]
                delta.removed.append(indicator_id)
                self.counts.expired += 1


def active_indicators(
    store: SqlStore,
    caller: Caller | None = None,
    *,
    now: float | None = None,
    confidence_floor: int = 0,
    rejects: list[NotCompiled] | None = None,
    warninglists: WarningLists | None = None,
    held_out: list[tuple[Compiled, Hit]] | None = None,
) -> Iterator[Compiled]:
    """Every indicator active at ``now`` that ``caller`` may see (None: no policy check),
    compiled, in commit order. What cannot be compiled goes to ``rejects`` when given; an
    active one whose keys hit one of ``warninglists`` is left out, and goes with its hit
    to ``held_out`` when given."""
    now = time.time() if now is None else now
    policy = store.policy() if caller is not None else None
    seq = 0
    while True:
        rows = store.indicator_versions(seq, 20_000, with_markings=True)
        if not rows:
            return
        for row_seq, owner, raw, markings in rows:
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
                if hit is None:
                    yield found
                elif held_out is not None:
                    held_out.append((found, hit))
