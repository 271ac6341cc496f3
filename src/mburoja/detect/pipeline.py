"""From records to sightings: match, confirm, record, aggregate, alert.

:class:`Detector` owns an index feed and a matcher. :meth:`Detector.process` takes one
micro-batch of records and, in this order:

1. matches it (every key hit names every indicator it matched);
2. confirms hits of complex indicators with the pattern evaluator;
3. stores the (indicator, record) pairs not stored before (a redelivered or re-read record
   counts once), marking their windows as owing a sighting, and writes an alert line for
   each new one;
4. writes a new version of the STIX ``sighting`` (and its ``observed-data`` and SCOs) of
   every (indicator, window) that gained a record, into the ``sightings`` collection, and
   clears the marks it settled.

Only when :meth:`process` returns is the batch durable, so a stream consumer acknowledges
its messages after it (at-least-once delivery, counted once).

**Failures between 3 and 4.** The hits are committed before the sighting is written. When
the sighting write fails, the marks stay (``sighting_pending``): a redelivery of the batch
finds its hits known but their windows still owed and writes them; otherwise the next
:meth:`Detector.refresh` (at start, and every ``detect.refresh_s`` while streaming) rewrites
every window marked more than a minute ago (at start: every one).

**Concurrent writers of one window.** Summing a window up and storing its sighting happen
under :meth:`SqlStore.sighting_lock` (a PostgreSQL advisory lock per window), so the sum
written last is the newest: a worker that summed 5 records cannot store them after another
stored 7. Under the lock the stored sighting is read first: a window whose stored count is
not lower than the sum is not written again, and the new version's ``modified`` is after the
stored one's, whatever the clocks of the hosts. On SQLite the lock covers one process.

A sighting names the indicator (``sighting_of_ref``), our identity (``where_sighted_refs``,
``created_by_ref``), ``count``/``first_seen``/``last_seen`` over the distinct records of the
window, and an observed-data with the matched values. It is marked ``detect.sighting_tlp``
(TLP:AMBER by default) and, when the indicator came from another organisation, names that
organisation in ``x_mburoja_recipients``: the policy then lets the source see it (and
federation pushes it back), while AMBER keeps it from everyone else outside.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import IO, Any, Protocol

import httpx
import msgspec
import orjson

from mburoja.config import DetectSettings, Settings
from mburoja.detect.columnar import ColumnarMatcher
from mburoja.detect.compile import Compiled
from mburoja.detect.evaluate import Evaluator
from mburoja.detect.index import Delta, IndexFeed
from mburoja.detect.model import Record
from mburoja.detect.reference import Hit, ReferenceMatcher
from mburoja.errors import ConfigError
from mburoja.ingest.pipeline import Ingestor
from mburoja.lifecycle import decay
from mburoja.lifecycle.warninglists import from_settings
from mburoja.policy import RECIPIENTS_PROPERTY
from mburoja.stix import timestamps
from mburoja.stix.identifiers import sco_id, uuid5_id
from mburoja.stix.markings import tlp_marking_id
from mburoja.stix.model import RawObject
from mburoja.store.detection import HitRow, WindowSummary
from mburoja.store.sql import SqlStore

log = logging.getLogger(__name__)

SIGHTINGS_COLLECTION = "sightings"
#: a window marked as owing its sighting longer ago than this is rewritten by any detector
PENDING_GRACE_S = 60.0
_SCO_TYPES = {
    "domain": "domain-name",
    "url": "url",
    "email": "email-addr",
}
_HASH_NAMES = {"md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256", "sha512": "SHA-512"}


class Matcher(Protocol):
    name: str

    def apply(self, delta: Delta) -> None: ...
    def match(self, records: Sequence[Record]) -> list[Hit]: ...
    def __len__(self) -> int: ...


def make_matcher(settings: DetectSettings, kind: str | None = None) -> Matcher:
    kind = kind or settings.matcher
    if kind == "columnar":
        return ColumnarMatcher(threads=settings.threads, memory_limit=settings.memory_limit)
    if kind == "reference":
        return ReferenceMatcher()
    raise ConfigError(f"detect.matcher {kind!r} is not a matcher; use columnar or reference")


class Outcome(msgspec.Struct, kw_only=True):
    """What one batch did; the totals of a run add these up."""

    records: int = 0
    hits: int = 0  # (record, key) hits, complex ones confirmed
    new_hits: int = 0  # (indicator, record) pairs stored for the first time
    repeated: int = 0  # pairs already stored (redelivery, re-read)
    unconfirmed: int = 0  # candidates of complex indicators the evaluator turned down
    sightings: int = 0  # sighting versions written
    objects: list[dict[str, Any]] = msgspec.field(default_factory=list)

    def add(self, other: Outcome) -> None:
        for field in ("records", "hits", "new_hits", "repeated", "unconfirmed", "sightings"):
            setattr(self, field, getattr(self, field) + getattr(other, field))


class Detector:
    """Matches batches of records and turns hits into stored sightings."""

    def __init__(
        self,
        store: SqlStore,
        settings: Settings,
        *,
        matcher: str | None = None,
        alerts: IO[str] | None = None,
        webhook: str | None = None,
        on_sightings: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.detect = settings.detect
        self.feed = IndexFeed(
            store,
            confidence_floor=self.detect.confidence_floor,
            warninglists=from_settings(settings.warninglists),
            decay=decay.from_settings(settings.decay),
        )
        self.matcher = make_matcher(self.detect, matcher)
        self.evaluator = Evaluator(window_s=self.detect.evaluate_window_s)
        self.complex: dict[str, Compiled] = {}
        self.owner_of: dict[str, str | None] = {}
        self.alerts = alerts
        self.webhook = httpx.Client(timeout=10.0) if webhook else None
        self.webhook_url = webhook
        self.on_sightings = on_sightings
        self._identity: str | None = None
        self.index_build_s = 0.0
        self._repaired_once = False
        #: sighting versions :meth:`refresh` rewrote for windows a failed run left owed, kept
        #: until :meth:`take_repaired` (a stream worker publishes them)
        self.repaired: list[dict[str, Any]] = []

    def close(self) -> None:
        if self.webhook is not None:
            self.webhook.close()
        close = getattr(self.matcher, "close", None)
        if close is not None:
            close()

    # -- the index -------------------------------------------------------------------------

    def refresh(self, now: float | None = None) -> Delta:
        """Apply what changed in the store (and in time) to the matcher."""
        started = time.perf_counter()
        delta = self.feed.refresh(now)
        if delta:
            self.matcher.apply(delta)
            self.evaluator.forget(delta.removed)
            for indicator_id in delta.removed:
                self.complex.pop(indicator_id, None)
                self.owner_of.pop(indicator_id, None)
            for found in delta.added:
                if not found.simple:
                    self.complex[found.id] = found
                if found.owner is not None:
                    self.owner_of[found.id] = found.owner
        self.index_build_s += time.perf_counter() - started
        self._repair()
        return delta

    def _repair(self) -> None:
        """Write the sightings of windows that are still owed one: every such window when
        this detector starts, later only those marked more than ``PENDING_GRACE_S`` ago (a
        younger mark is most likely being written by its own worker right now)."""
        grace = PENDING_GRACE_S if self._repaired_once else 0.0
        self._repaired_once = True
        owed = self.store.pending_windows(marked_before=time.time() - grace)
        if not owed:
            return
        objects = self._write_windows(owed)
        sightings = [o for o in objects if o["type"] == "sighting"]
        if sightings:
            log.warning(
                "rewrote %d sightings that an earlier failure had left unwritten", len(sightings)
            )
            self.repaired.extend(sightings)
            if self.on_sightings is not None:
                self.on_sightings(sightings)

    def take_repaired(self) -> list[dict[str, Any]]:
        """The sighting versions :meth:`refresh` rewrote since the last call."""
        taken, self.repaired = self.repaired, []
        return taken

    # -- one batch -------------------------------------------------------------------------

    def process(self, records: Sequence[Record], hits: list[Hit] | None = None) -> Outcome:
        """One micro-batch; ``hits`` when the matcher has already found them (a whole-file
        scan does), else the matcher finds them here."""
        outcome = Outcome(records=len(records))
        if not records:
            return outcome
        if hits is None:
            hits = self.matcher.match(records)
        hits = self._confirm(records, hits, outcome)
        outcome.hits = len(hits)
        window = self.detect.window_s
        rows: list[HitRow] = []
        for hit in hits:
            record = records[hit.row]
            ts = record.ts if record.ts is not None else time.time()
            start = int(ts // window * window)
            for indicator_id in hit.indicators:
                rows.append(HitRow(indicator_id, record.rid, start, ts, hit.kind, hit.value))
        if rows:
            self.identity()  # no home organisation: fail before storing anything
        new = self.store.record_hits(rows)
        outcome.new_hits = len(new)
        outcome.repeated = len(rows) - len(new)
        if new:
            self._alert(records, hits, {(h.indicator_id, h.rid) for h in new})
        windows = {(h.indicator_id, h.window_start) for h in new}
        if outcome.repeated:
            # A redelivery: the attempt that stored these hits may have failed to write the
            # sighting; its windows are then still owed.
            windows.update(
                self.store.pending_versions((h.indicator_id, h.window_start) for h in rows)
            )
        if windows:
            objects = self._write_windows(sorted(windows))
            sightings = [o for o in objects if o["type"] == "sighting"]
            outcome.sightings = len(sightings)
            outcome.objects = objects
            if self.on_sightings is not None and sightings:
                self.on_sightings(sightings)
        return outcome

    def _confirm(self, records: Sequence[Record], hits: list[Hit], outcome: Outcome) -> list[Hit]:
        """Keep simple hits; keep a complex indicator's hit only where its pattern holds."""
        if not self.complex:
            return hits
        candidates: dict[str, list[int]] = defaultdict(list)
        for hit in hits:
            for indicator_id in hit.indicators:
                if indicator_id in self.complex:
                    candidates[indicator_id].append(hit.row)
        confirmed: dict[str, set[int]] = {}
        for indicator_id, rows in candidates.items():
            unique = sorted(set(rows))
            kept = self.evaluator.confirm(self.complex[indicator_id], [records[r] for r in unique])
            kept_ids = {id(r) for r in kept}
            confirmed[indicator_id] = {r for r in unique if id(records[r]) in kept_ids}
            outcome.unconfirmed += len(unique) - len(confirmed[indicator_id])
        out: list[Hit] = []
        for hit in hits:
            ids = tuple(
                i for i in hit.indicators if i not in self.complex or hit.row in confirmed[i]
            )
            if ids:
                out.append(Hit(hit.row, hit.kind, hit.value, ids) if ids != hit.indicators else hit)
        return out

    # -- alerts ----------------------------------------------------------------------------

    def _alert(self, records: Sequence[Record], hits: list[Hit], new: set[tuple[str, str]]) -> None:
        if self.alerts is None and self.webhook is None:
            return
        lines: list[bytes] = []
        for hit in hits:
            record = records[hit.row]
            fresh = [i for i in hit.indicators if (i, record.rid) in new]
            if not fresh:
                continue
            lines.append(
                orjson.dumps(
                    {
                        "ts": timestamps.from_epoch(record.ts) if record.ts is not None else None,
                        "rid": record.rid,
                        "log": record.log,
                        "source": record.source,
                        "line": record.line or None,
                        "src_ip": record.src_ip,
                        "dst_ip": record.dst_ip,
                        "dst_port": record.dst_port,
                        "kind": hit.kind,
                        "value": hit.value,
                        "indicators": fresh,
                    }
                )
            )
        if self.alerts is not None and lines:
            self.alerts.write(b"\n".join(lines).decode() + "\n")
            self.alerts.flush()
        if self.webhook is not None and self.webhook_url and lines:
            self.webhook.post(
                self.webhook_url,
                content=b"\n".join(lines) + b"\n",
                headers={"Content-Type": "application/x-ndjson"},
            ).raise_for_status()

    # -- sightings -------------------------------------------------------------------------

    def identity(self) -> str:
        if self._identity is None:
            found = self.store.home_identity()
            if found is None:
                raise ConfigError(
                    "sightings need the home organisation: run `mburoja init --org NAME`"
                )
            self._identity = found
        return self._identity

    def _write_windows(self, windows: list[tuple[str, int]]) -> list[dict[str, Any]]:
        """Sum up ``windows`` and store a new sighting version of each whose stored count is
        lower, then clear their marks; the objects written (see the module docstring)."""
        identity = self.identity()
        with self.store.sighting_lock(windows):
            # The marks are read before the sums: a sum counts at least what its mark says,
            # and hits stored after the read bump the mark, which then stays.
            owed = self.store.pending_versions(windows)
            summaries = self.store.window_summaries(windows)
            ids = {s: _sighting_id(identity, s.indicator_id, s.window_start) for s in summaries}
            stored = self.store.current_many(list(ids.values()))
            fresh: list[tuple[WindowSummary, str | None]] = []
            for summary in summaries:
                previous = stored.get(ids[summary])
                body = orjson.loads(previous.raw) if previous is not None else {}
                if body.get("count", 0) < summary.count:
                    fresh.append((summary, body.get("modified")))
            objects = self._sightings(fresh) if fresh else []
            self.store.clear_pending(owed)
        return objects

    def _sightings(self, summaries: list[tuple[WindowSummary, str | None]]) -> list[dict[str, Any]]:
        """Store sightings of ``summaries``, each with the ``modified`` of the version it
        replaces (None: the first)."""
        identity = self.identity()
        marking = tlp_marking_id(self.detect.sighting_tlp)
        owners = sorted({o for s, _ in summaries if (o := self.owner_of.get(s.indicator_id))})
        identities = self.store.org_identities(owners)
        objects: list[dict[str, Any]] = []
        for summary, previous in summaries:
            owner = self.owner_of.get(summary.indicator_id)
            recipients = [identities[owner]] if owner in identities else []
            modified = _modified(previous)
            objects.extend(self._sighting(summary, identity, marking, recipients, modified))
        self.store.ensure_collection(
            SIGHTINGS_COLLECTION, "Sightings", "Indicator hits in local telemetry"
        )
        items = [
            RawObject(orjson.dumps(obj), origin="detect", index=i) for i, obj in enumerate(objects)
        ]
        Ingestor(self.store, self.settings, workers=0).run(
            items, source="detect", actor="detect", collection=SIGHTINGS_COLLECTION
        )
        return objects

    def _sighting(
        self,
        s: WindowSummary,
        identity: str,
        marking: str,
        recipients: list[str],
        modified: str,
    ) -> list[dict[str, Any]]:
        sighting_id = _sighting_id(identity, s.indicator_id, s.window_start)
        observed_id = uuid5_id(
            "observed-data", _window_name(identity, s.indicator_id, s.window_start)
        )
        created = timestamps.from_epoch(s.window_start)
        common: dict[str, Any] = {"object_marking_refs": [marking]}
        if recipients:
            common[RECIPIENTS_PROPERTY] = recipients
        scos: list[dict[str, Any]] = []
        for kind, value in s.values:
            for sco in _scos(kind, value):
                scos.append({**sco, **common})
        first, last = timestamps.from_epoch(s.first_seen), timestamps.from_epoch(s.last_seen)
        observed = {
            "type": "observed-data",
            "spec_version": "2.1",
            "id": observed_id,
            "created": created,
            "modified": modified,
            "created_by_ref": identity,
            "first_observed": first,
            "last_observed": last,
            "number_observed": s.count,
            "object_refs": sorted({o["id"] for o in scos}) or [identity],
            **common,
        }
        sighting = {
            "type": "sighting",
            "spec_version": "2.1",
            "id": sighting_id,
            "created": created,
            "modified": modified,
            "created_by_ref": identity,
            "sighting_of_ref": s.indicator_id,
            "first_seen": first,
            "last_seen": last,
            "count": s.count,
            "where_sighted_refs": [identity],
            "observed_data_refs": [observed_id],
            **common,
        }
        return [*scos, observed, sighting]


def _window_name(identity: str, indicator_id: str, window_start: int) -> bytes:
    return f"{identity}|{indicator_id}|{window_start}".encode()


def _sighting_id(identity: str, indicator_id: str, window_start: int) -> str:
    """The id of our sighting of one indicator in one window: the same in every process."""
    return uuid5_id("sighting", _window_name(identity, indicator_id, window_start))


def _modified(previous: str | None) -> str:
    """Now, but after ``previous`` (the stored version's, from a host whose clock is ahead,
    or from the same millisecond)."""
    stamp = timestamps.from_epoch(time.time())
    if previous is not None and stamp <= previous:
        stamp = timestamps.from_epoch(timestamps.parse(previous).timestamp() + 0.001)
    return stamp


def _sco(sco: dict[str, Any]) -> dict[str, Any]:
    sco["spec_version"] = "2.1"
    sco["id"] = sco_id(sco["type"], sco)
    return sco


def _scos(kind: str, value: str) -> list[dict[str, Any]]:
    """The SCOs of one matched value (an endpoint is an address and the traffic to it)."""
    if kind == "ip":
        return [_sco({"type": "ipv6-addr" if ":" in value else "ipv4-addr", "value": value})]
    if kind in _SCO_TYPES:
        return [_sco({"type": _SCO_TYPES[kind], "value": value})]
    if kind in _HASH_NAMES:
        return [_sco({"type": "file", "hashes": {_HASH_NAMES[kind]: value}})]
    if kind.startswith("x509-"):
        return [_sco({"type": "x509-certificate", "hashes": {_HASH_NAMES[kind[5:]]: value}})]
    if kind == "endpoint":
        address, _, port = value.rpartition("|")
        target = _sco({"type": "ipv6-addr" if ":" in address else "ipv4-addr", "value": address})
        traffic = _sco(
            {
                "type": "network-traffic",
                "dst_ref": target["id"],
                "dst_port": int(port),
                "protocols": ["ipv6" if ":" in address else "ipv4"],
            }
        )
        return [target, traffic]
    return []
