"""What the detection view and its API show one caller: sightings, the alert stream, the
index status and the sensor exports, each read through the policy as that caller.

* **Sightings**: current ``sighting`` objects, the most recently stored first, that the
  caller may see *and* whose indicator the caller may see (a sighting names its indicator:
  showing it would tell what the indicator is). Filters: indicator (a STIX id, or a value
  found through the correlation index), ``last_seen`` since/until, a minimum count and a
  ``where_sighted_refs`` identity. A page scans at most ``SCAN`` stored sightings.
* **Alerts**: the newest hits (``sighting_hits``) on indicators the caller may see, where
  the caller may also see the sighting those hits make (its TLP is ``detect.sighting_tlp``;
  the indicator's source organisation is named among its recipients).
* **Index status**: the active indicators by key kind, and the active ones that could not
  be compiled with their reason. Every current indicator is compiled once per version into
  a snapshot kept per store and brought up to date from the store's sequence
  (``last_seq``); a page load only filters the snapshot through the policy.
* **Exports**: the files ``mburoja export <format> --for <org>`` writes, from the same
  code (:mod:`mburoja.detect.exports`); Suricata's directory comes as a zip archive.

Cursors (the alert stream's ``after``, the sightings' ``before``) may stand on a row the
caller cannot see, so they are encrypted under the instance secret: they tell nothing, and
any replica sharing the secret accepts them.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import msgspec
import orjson
from cryptography.fernet import Fernet, InvalidToken

from mburoja.config import Settings
from mburoja.detect.compile import NotCompiled, compile_indicator, reasons_count
from mburoja.detect.exports import (
    ExportReport,
    gather,
    raw_views,
    write_csv,
    write_nft,
    write_rpz,
    write_stix,
    write_suricata,
    write_zeek,
)
from mburoja.detect.index import epoch
from mburoja.errors import InputFormatError, NotFound
from mburoja.lifecycle import decay, warninglists
from mburoja.lifecycle.decay import Decay, DecayModels
from mburoja.lifecycle.scores import sightings_of
from mburoja.lifecycle.warninglists import WarningLists
from mburoja.policy import RECIPIENTS_PROPERTY, Caller, Policy
from mburoja.stix import timestamps
from mburoja.stix.identifiers import identifier_type, is_identifier
from mburoja.stix.markings import tlp_marking_id

if TYPE_CHECKING:
    from mburoja.store.sql import SqlStore

SCAN: Final = 5000  # stored sightings or hits one request looks at, at most
MAX_LIMIT: Final = 500
DEFAULT_LIMIT: Final = 50
SHOWN_FAILED: Final = 100  # not-compiled indicators listed (all are counted)
_BATCH: Final = 250
_TEXT: Final = 200
_MAX_FILTER: Final = 1024
#: format -> (content type, file name)
EXPORTS: Final[dict[str, tuple[str, str]]] = {
    "zeek": ("text/plain; charset=utf-8", "mburoja-intel.dat"),
    "suricata": ("application/zip", "mburoja-suricata.zip"),
    "rpz": ("text/dns; charset=utf-8", "mburoja.rpz"),
    "nft": ("text/plain; charset=utf-8", "mburoja.nft"),
    "csv": ("text/csv; charset=utf-8", "mburoja-indicators.csv"),
    "stix": ("application/stix+json;version=2.1", "mburoja-indicators.json"),
}


class Cursors:
    """Opaque cursors: a small JSON value, encrypted and authenticated (Fernet) under a key
    derived from the instance secret."""

    def __init__(self, secret: str) -> None:
        digest = hashlib.sha256(b"mburoja detection cursor|" + secret.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def issue(self, value: Any) -> str:
        return self._fernet.encrypt(orjson.dumps(value)).decode()

    def open(self, token: str, name: str) -> Any:
        try:
            return orjson.loads(self._fernet.decrypt(token.encode()))
        except (InvalidToken, ValueError, orjson.JSONDecodeError):
            raise InputFormatError(
                f"{name}: not a cursor this server issued (use the value it returned)"
            ) from None


def _text(value: object) -> str:
    if not isinstance(value, str):
        return ""
    return value if len(value) <= _TEXT else value[: _TEXT - 1] + "…"


def limit_of(params: Mapping[str, str], default: int = DEFAULT_LIMIT) -> int:
    text = params.get("limit", "")
    if not text:
        return default
    if not (text.isascii() and text.isdigit() and len(text) < 6) or not (
        1 <= int(text) <= MAX_LIMIT
    ):
        raise InputFormatError(f"limit: must be an integer from 1 to {MAX_LIMIT}, got {text!r}")
    return int(text)


_LEAP: Final = re.compile(r"^(.*T[0-9]{2}:[0-9]{2}):60(\.[0-9]+)?(.*)$")


def _moment(params: Mapping[str, str], name: str) -> float | None:
    """A time filter: an RFC 3339 date-time (a STIX timestamp is one), an ISO 8601 timestamp
    or a date (UTC when no zone is given). A leap second is the last instant of its minute."""
    text = params.get(name, "").strip()
    if not text:
        return None
    # RFC 3339 also allows a lower-case ``t`` and ``z``, and a leap second (``:60``)
    shown = _LEAP.sub(r"\1:59.999999\3", text[:64].upper())
    try:
        moment = datetime.fromisoformat(shown)
    except ValueError:
        raise InputFormatError(
            f"{name}: {text[:64]!r} is not a date or timestamp (e.g. 2026-01-01T00:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


# -- sightings ---------------------------------------------------------------------------


class SightingFilter(msgspec.Struct, frozen=True, kw_only=True):
    indicator: str = ""
    since: float | None = None
    until: float | None = None
    min_count: int = 1
    where: str = ""
    limit: int = DEFAULT_LIMIT
    before: str = ""

    def query(self, **override: str) -> dict[str, str]:
        """The filters as query parameters (as given), for the next page's link."""
        out = {
            "indicator": self.indicator,
            "since": "" if self.since is None else timestamps.from_epoch(self.since),
            "until": "" if self.until is None else timestamps.from_epoch(self.until),
            "min_count": "" if self.min_count == 1 else str(self.min_count),
            "where": self.where,
            "limit": "" if self.limit == DEFAULT_LIMIT else str(self.limit),
            **override,
        }
        return {k: v for k, v in out.items() if v}


def sighting_filter(params: Mapping[str, str]) -> SightingFilter:
    """The sighting filters of a request; a bad one is refused naming it."""
    indicator = params.get("indicator", "").strip()
    if len(indicator) > _MAX_FILTER:
        raise InputFormatError(f"indicator: longer than {_MAX_FILTER} characters")
    where = params.get("where", "").strip()
    if where and identifier_type(where) != "identity":
        raise InputFormatError(
            f"where: {where[:80]!r} is not an identity id (identity--<UUID>) of a sighter"
        )
    count = params.get("min_count", "").strip()
    if count and not (count.isascii() and count.isdigit() and len(count) < 10):
        raise InputFormatError(f"min_count: must be a whole number, got {count[:20]!r}")
    since, until = _moment(params, "since"), _moment(params, "until")
    if since is not None and until is not None and until < since:
        raise InputFormatError("until: is before since")
    return SightingFilter(
        indicator=indicator,
        since=since,
        until=until,
        min_count=int(count) if count else 1,
        where=where,
        limit=limit_of(params),
        before=params.get("before", "").strip()[:_MAX_FILTER],
    )


class SightingRow(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    indicator_id: str
    indicator_name: str
    indicator_pattern: str
    count: int
    first_seen: str
    last_seen: str
    where_sighted: list[str]


class SightingPage(msgspec.Struct, frozen=True, kw_only=True):
    sightings: list[SightingRow]
    next: str | None  # the ``before`` of the next page; None: no more


def _indicator_views(
    store: SqlStore, policy: Policy, caller: Caller, ids: list[str]
) -> dict[str, dict[str, Any]]:
    """The current versions of ``ids`` that ``caller`` may see, parsed."""
    out: dict[str, dict[str, Any]] = {}
    for object_id, version in store.current_many(ids).items():
        view = policy.view(caller, version.owner, version.markings, version.raw)
        if view is not None:
            out[object_id] = {**orjson.loads(view), "_owner": version.owner}
    return out


def _indicator_ids(store: SqlStore, text: str) -> list[str] | None:
    if not text:
        return None
    if is_identifier(text):
        return [text]
    return [hit.id for hit in store.search(text, limit=MAX_LIMIT).hits if hit.type == "indicator"]


def _keeps(f: SightingFilter, body: dict[str, Any]) -> bool:
    count = body.get("count", 1)
    if not isinstance(count, int) or count < f.min_count:
        return False
    if f.since is None and f.until is None:
        return True
    last = epoch(body.get("last_seen") or body.get("modified"))
    if last is None:
        return False
    return (f.since is None or last >= f.since) and (f.until is None or last <= f.until)


def sightings(
    store: SqlStore, policy: Policy, caller: Caller, f: SightingFilter, cursors: Cursors
) -> SightingPage:
    """One page of the sightings ``caller`` may see that pass ``f`` (module docstring)."""
    before: int | None = None
    if f.before:
        opened = cursors.open(f.before, "before")
        if not isinstance(opened, int):
            raise InputFormatError("before: not a sightings cursor")
        before = opened
    ids = _indicator_ids(store, f.indicator)
    where = f.where or None
    rows: list[SightingRow] = []
    scanned = 0
    while scanned < SCAN:
        batch = store.current_sightings(
            before_seq=before, limit=_BATCH, sighting_of=ids, where_sighted=where
        )
        if not batch:
            return SightingPage(sightings=rows, next=None)
        candidates: list[tuple[int, dict[str, Any]]] = []
        for seq, owner, markings, raw in batch:
            view = policy.view(caller, owner, markings, raw)
            if view is not None and _keeps(f, body := orjson.loads(view)):
                candidates.append((seq, body))
        wanted = [str(b.get("sighting_of_ref")) for _, b in candidates]
        indicators = _indicator_views(store, policy, caller, wanted)
        for seq, body in candidates:
            of = indicators.get(str(body.get("sighting_of_ref")))
            if of is None:
                continue
            rows.append(_sighting_row(body, of))
            if len(rows) == f.limit:
                return SightingPage(sightings=rows, next=cursors.issue(seq))
        scanned += len(batch)
        before = batch[-1][0]
        if len(batch) < _BATCH:
            return SightingPage(sightings=rows, next=None)
    return SightingPage(sightings=rows, next=cursors.issue(before))


def _sighting_row(body: dict[str, Any], of: dict[str, Any]) -> SightingRow:
    count = body.get("count", 1)
    where = body.get("where_sighted_refs")
    return SightingRow(
        id=str(body.get("id")),
        indicator_id=str(of.get("id")),
        indicator_name=_text(of.get("name")),
        indicator_pattern=_text(of.get("pattern")),
        count=count if isinstance(count, int) else 1,
        first_seen=str(body.get("first_seen") or ""),
        last_seen=str(body.get("last_seen") or ""),
        where_sighted=[w for w in where if isinstance(w, str)] if isinstance(where, list) else [],
    )


# -- the alert stream --------------------------------------------------------------------


class AlertRow(msgspec.Struct, frozen=True, kw_only=True):
    ts: str
    indicator_id: str
    indicator_name: str
    kind: str
    value: str
    record: str


class AlertPage(msgspec.Struct, frozen=True, kw_only=True):
    alerts: list[AlertRow]  # oldest first
    cursor: str  # ``after`` for the next poll


class _HitGate:
    """Which indicators' hits one caller may see, decided once per indicator."""

    def __init__(self, store: SqlStore, policy: Policy, caller: Caller, sighting_tlp: str):
        self.store, self.policy, self.caller = store, policy, caller
        self.level = policy.level((tlp_marking_id(sighting_tlp),))
        self.seen: dict[str, str | None] = {}  # indicator id -> its name, None: hidden

    def names(self, ids: list[str]) -> dict[str, str | None]:
        new = sorted({i for i in ids if i not in self.seen})
        if new:
            found = _indicator_views(self.store, self.policy, self.caller, new)
            owners = {o for body in found.values() if (o := body["_owner"])}
            identities = self.store.org_identities(sorted(owners))
            for indicator_id in new:
                body = found.get(indicator_id)
                source = identities.get(body["_owner"]) if body and body["_owner"] else None
                named: tuple[str, ...] = (source,) if source else ()
                admitted = body is not None and self.policy.admits(
                    self.caller, None, self.level, _given(named)
                )
                self.seen[indicator_id] = _text(body.get("name")) if body and admitted else None
        return self.seen


def _given(named: tuple[str, ...]) -> Callable[[], tuple[str, ...]]:
    return lambda: named


def alerts(
    store: SqlStore,
    policy: Policy,
    caller: Caller,
    cursors: Cursors,
    *,
    sighting_tlp: str,
    after: str = "",
    limit: int = DEFAULT_LIMIT,
) -> AlertPage:
    """Without ``after``: the newest ``limit`` hits ``caller`` may see. With it: those
    stored past it (oldest first). Either way, the cursor for the next poll."""
    gate = _HitGate(store, policy, caller, sighting_tlp)
    key: tuple[float, str, str] | None = None
    if after:
        opened = cursors.open(after, "after")
        if not (isinstance(opened, list) and len(opened) == 3):
            raise InputFormatError("after: not an alert cursor")
        key = (float(opened[0]), str(opened[1]), str(opened[2]))
    newest_first = key is None
    found: list[AlertRow] = []
    last = key
    scanned = 0
    start = key
    while scanned < SCAN and len(found) < limit:
        batch = store.hits_page(start, newest_first=newest_first, limit=_BATCH)
        if not batch:
            break
        names = gate.names([h.indicator_id for h in batch])
        for hit in batch:
            if newest_first and last is None:
                last = (hit.ts, hit.indicator_id, hit.rid)
            name = names.get(hit.indicator_id)
            if name is not None:
                found.append(_alert_row(hit.ts, hit.indicator_id, name, hit))
            if not newest_first:
                last = (hit.ts, hit.indicator_id, hit.rid)
            if len(found) == limit:
                break
        scanned += len(batch)
        start = (batch[-1].ts, batch[-1].indicator_id, batch[-1].rid)
        if len(batch) < _BATCH:
            break
    if newest_first:
        found.reverse()
    cursor = list(last) if last is not None else [-1.0, "", ""]
    return AlertPage(alerts=found, cursor=cursors.issue(cursor))


def _alert_row(ts: float, indicator_id: str, name: str, hit: Any) -> AlertRow:
    return AlertRow(
        ts=timestamps.from_epoch(ts),
        indicator_id=indicator_id,
        indicator_name=name,
        kind=str(hit.kind),
        value=_text(hit.value),
        record=_text(hit.rid),
    )


# -- the index status --------------------------------------------------------------------


class _Entry(NamedTuple):
    """One current, unrevoked indicator, as the status needs it (no pattern, no bytes)."""

    seq: int
    owner: str | None
    markings: tuple[str, ...]
    recipients: tuple[str, ...]
    start: float | None
    until: float | None
    kinds: tuple[str, ...] | None  # None: not compiled
    simple: bool
    reason: str
    confidence: int | None
    listed: str  # the warning list that holds it out ("" for none)
    decay: Decay | None  # its decay as stored (sightings and feed listings come at count time)


class _Snapshot:
    """Every current, unrevoked indicator of one store, compiled once per version, checked
    against the warning lists and given its decay as stored."""

    def __init__(self, lists: WarningLists, models: DecayModels) -> None:
        self.lock = threading.Lock()
        self.seq = 0
        self.entries: dict[str, _Entry] = {}
        self._kinds: dict[tuple[str, ...], tuple[str, ...]] = {}
        self.lists = lists
        self.models = models

    def refresh(self, store: SqlStore) -> int:
        with self.lock:
            last = store.last_seq()
            if last < self.seq:  # a new store at the same address: start again
                self.seq, self.entries = 0, {}
            if last <= self.seq:
                return self.seq
            now = time.time()
            while rows := store.indicator_versions(
                self.seq, 20_000, with_markings=True, with_source=True
            ):
                for seq, owner, raw, markings, source in rows:
                    self.seq = max(self.seq, seq)
                    self._take(seq, owner, markings, source, orjson.loads(raw), now)
            return self.seq

    def _take(
        self,
        seq: int,
        owner: str | None,
        markings: tuple[str, ...],
        source: str | None,
        obj: Any,
        now: float,
    ) -> None:
        indicator_id = str(obj.get("id"))
        self.entries.pop(indicator_id, None)
        if obj.get("revoked") is True:
            return
        named = obj.get(RECIPIENTS_PROPERTY)
        recipients = (
            tuple(r for r in named if isinstance(r, str)) if isinstance(named, list) else ()
        )
        found = compile_indicator(obj, owner)
        start, until = epoch(obj.get("valid_from")), epoch(obj.get("valid_until"))
        confidence = obj.get("confidence")
        common = (seq, owner, markings, recipients, start, until)
        if isinstance(found, NotCompiled):
            entry = _Entry(*common, None, False, found.reason, None, "", None)
        else:
            kinds = tuple(sorted({k.kind for k in found.keys}))
            kinds = self._kinds.setdefault(kinds, kinds)
            level = confidence if isinstance(confidence, int) else None
            hit = self.lists.indicator(found) if self.lists else None
            fading = self.models.decay(obj, source, kinds, None, now) if self.models else None
            listed = "" if hit is None else hit.reason
            entry = _Entry(*common, kinds, found.simple, "", level, listed, fading)
        self.entries[indicator_id] = entry


_SNAPSHOTS: dict[tuple[str, int, int], _Snapshot] = {}
_SNAPSHOTS_GUARD = threading.Lock()


class FailedIndicator(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    pattern: str
    reason: str


class IndexStatus(msgspec.Struct, frozen=True, kw_only=True):
    active: int
    simple: int
    complex: int
    by_kind: dict[str, int]
    not_compiled: int
    reasons: dict[str, int]
    failed: list[FailedIndicator]  # the newest ``SHOWN_FAILED`` of them
    low_confidence: int
    #: valid indicators held out because a warning list holds one of their keys
    warning_listed: int
    #: valid indicators held out because their decay score is at or under the threshold
    decayed: int
    seq: int


def index_status(
    store: SqlStore,
    policy: Policy,
    caller: Caller,
    *,
    confidence_floor: int = 0,
    now: float | None = None,
    lists: WarningLists | None = None,
    models: DecayModels | None = None,
) -> IndexStatus:
    """The active indicators ``caller`` may see, by key kind, and those not compiled; the
    valid ones that a warning list (``lists``; None: the shipped defaults) or decay
    (``models``; None: the shipped models) hold out are counted apart, as the detector and
    the exports leave them out. A sighting the caller may see, or a full-snapshot feed's
    listing, renews a decayed one as it does there."""
    lists = warninglists.defaults() if lists is None else lists
    models = decay.defaults() if models is None else models
    key = (store.url, id(lists), id(models))
    with _SNAPSHOTS_GUARD:
        snapshot = _SNAPSHOTS.setdefault(key, _Snapshot(lists, models))
    seq = snapshot.refresh(store)
    now = time.time() if now is None else now
    decided: dict[tuple[str | None, tuple[str, ...]], bool] = {}
    by_kind: dict[str, int] = {}
    active = simple = low = held = 0
    failed: list[tuple[int, str, str]] = []
    fading: list[tuple[str, _Entry]] = []
    with snapshot.lock:
        entries = list(snapshot.entries.items())
    for indicator_id, e in entries:
        if (e.start is not None and e.start > now) or (e.until is not None and now >= e.until):
            continue
        allowed = decided.get((e.owner, e.markings))
        if allowed is None:
            allowed = decided[(e.owner, e.markings)] = policy.admits(
                caller, e.owner, policy.level(e.markings)
            )
        if not allowed and (caller.anonymous or caller.identities.isdisjoint(e.recipients)):
            continue
        if e.kinds is None:
            failed.append((e.seq, indicator_id, e.reason))
            continue
        if e.confidence is not None and e.confidence < confidence_floor:
            low += 1
            continue
        if e.listed:
            held += 1
            continue
        if e.decay is not None and not e.decay.active(now):
            fading.append((indicator_id, e))  # renewed below if sighted or listed since
            continue
        active += 1
        simple += e.simple
        for kind in e.kinds:
            by_kind[kind] = by_kind.get(kind, 0) + 1
    renewed = _renewed(store, policy, caller, fading, now)
    for e in renewed:
        active += 1
        simple += e.simple
        for kind in e.kinds or ():
            by_kind[kind] = by_kind.get(kind, 0) + 1
    failed.sort(reverse=True)
    return IndexStatus(
        active=active,
        simple=simple,
        complex=active - simple,
        by_kind=dict(sorted(by_kind.items())),
        not_compiled=len(failed),
        reasons=reasons_count(NotCompiled(i, r) for _s, i, r in failed),
        failed=_failed(store, caller, failed[:SHOWN_FAILED]),
        low_confidence=low,
        warning_listed=held,
        decayed=len(fading) - len(renewed),
        seq=seq,
    )


def _renewed(
    store: SqlStore,
    policy: Policy,
    caller: Caller,
    fading: list[tuple[str, _Entry]],
    now: float,
) -> list[_Entry]:
    """The ``fading`` entries (decayed as stored) that a sighting ``caller`` may see or a
    full-snapshot feed's listing keeps active at ``now``."""
    if not fading:
        return []
    ids = [indicator_id for indicator_id, _e in fading]
    seen = sightings_of(store, ids, policy, caller, now)
    listed = store.listed_times(ids)
    out = []
    for indicator_id, e in fading:
        state = e.decay
        if state is None:
            continue
        if indicator_id in seen:
            state = state.resighted(seen[indicator_id])
        if indicator_id in listed:
            state = state.relisted(listed[indicator_id], now)
        if state.active(now):
            out.append(e)
    return out


def _failed(
    store: SqlStore, caller: Caller, rows: list[tuple[int, str, str]]
) -> list[FailedIndicator]:
    """The listed not-compiled indicators, named as ``caller`` sees them."""
    views = raw_views(store, caller, [i for _s, i, _r in rows])
    out: list[FailedIndicator] = []
    for _seq, indicator_id, reason in rows:
        view = views.get(indicator_id)
        if view is None:
            continue
        body = orjson.loads(view)
        out.append(
            FailedIndicator(
                id=indicator_id,
                name=_text(body.get("name")),
                pattern=_text(body.get("pattern")),
                reason=reason,
            )
        )
    return out


# -- exports -----------------------------------------------------------------------------


class ExportFile(msgspec.Struct, frozen=True, kw_only=True):
    body: bytes
    content_type: str
    filename: str
    summary: str


def export_file(
    store: SqlStore,
    caller: Caller,
    requester: str,
    fmt: str,
    *,
    at: str | None = None,
    settings: Settings,
) -> ExportFile:
    """The export ``mburoja export <fmt> --for <requester>`` writes, as bytes (with the
    instance's confidence floor and warning lists, as the CLI applies them)."""
    if fmt not in EXPORTS:
        raise NotFound(f"format: {fmt!r} is not an export; use one of {', '.join(EXPORTS)}")
    if at is not None and not timestamps.is_timestamp(at):
        raise InputFormatError(f"at: {at[:64]!r} is not a STIX timestamp (2026-01-01T00:00:00Z)")
    found = gather(
        store,
        caller,
        requester,
        at=at,
        confidence_floor=settings.detect.confidence_floor,
        warninglists=warninglists.from_settings(settings.warninglists),
        decay=decay.from_settings(settings.decay),
    )
    content_type, filename = EXPORTS[fmt]
    if fmt == "suricata":
        body, report = _suricata_zip(found.indicators, found.options)
        return ExportFile(
            body=body, content_type=content_type, filename=filename, summary=report.summary()
        )
    text = io.StringIO(newline="\n")
    writers: dict[str, Callable[[], ExportReport]] = {
        "zeek": lambda: write_zeek(found.indicators, text, found.options),
        "rpz": lambda: write_rpz(found.indicators, text, found.options),
        "nft": lambda: write_nft(found.indicators, text, found.options),
        "csv": lambda: write_csv(found.indicators, text, found.options),
        "stix": lambda: write_stix(
            found.indicators,
            text,
            found.options,
            raw=raw_views(
                store,
                caller,
                [c.id for c in found.indicators] + [n.id for n in found.not_compiled],
            ),
            not_compiled=found.not_compiled,
        ),
    }
    report = writers[fmt]()
    return ExportFile(
        body=text.getvalue().encode(),
        content_type=content_type,
        filename=filename,
        summary=report.summary(),
    )


def _suricata_zip(indicators: Any, options: Any) -> tuple[bytes, ExportReport]:
    """The Suricata directory as a zip archive (fixed file times: same input, same bytes)."""
    with tempfile.TemporaryDirectory(prefix="mburoja-suricata-") as tmp:
        directory = Path(tmp) / "suricata"
        report = write_suricata(indicators, directory, options)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(directory.iterdir()):
                info = zipfile.ZipInfo(path.name, date_time=(1980, 1, 1, 0, 0, 0))
                archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return out.getvalue(), report
