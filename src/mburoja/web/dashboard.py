"""What the dashboard shows one caller, every panel read through the policy as that caller:

- counts by type and TLP, and the newest objects it may see;
- the ingest rate: objects stored (new objects and new versions) per hour, or per day past
  two days, over the last ``?days=`` days (default 2). The home organisation sees every
  ingest run; another organisation sees only the runs its own accounts made, because a run's
  counts include objects it may not see (the same reason ``/api/stats`` gives it no run
  count);
- sightings per day (their ``count``, by ``last_seen``) over the 30 days up to the newest
  sighting it may see, and the indicators it may see that were sighted most;
- the active campaigns and intrusion sets (current, not revoked), last seen first;
- for the home organisation only: federation health per peer, and the newest
  disinformation findings (copy-paste clusters, coordination, narrative matches).

Every panel is bounded (``mburoja.store.overview``): the page costs the same on a large
store as on a small one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import orjson

from mburoja.errors import InputFormatError
from mburoja.policy import Caller, Policy
from mburoja.store.base import Stats
from mburoja.store.outbox import PeerStatus
from mburoja.store.overview import Tracked
from mburoja.store.sql import SqlStore
from mburoja.web.charts import Chart, Columns, bar_chart, column_chart, tlp_css

#: how many of the newest current objects are looked at, and how many are shown
SCAN = 200
SHOWN = 15
LISTED = 10  # rows of the campaign, intrusion-set, top-sighted and findings panels
DAYS = 2  # the ingest chart's default span
MAX_DAYS = 90
SIGHTING_DAYS = 30
_TEXT = 200  # characters of a name or pattern shown


class Row(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    type: str
    added: str
    tlp: str
    tlp_css: str  # from a fixed set, never from data
    name: str
    value: str


class Active(msgspec.Struct, frozen=True, kw_only=True):
    """A campaign, intrusion set or finding: its name and when it was last seen."""

    id: str
    name: str
    seen: str
    kind: str = ""  # a finding's kind (copies, coordination, narrative, ...)


class Sighted(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    value: str
    count: int


class Dashboard(msgspec.Struct, frozen=True, kw_only=True):
    stats: Stats
    by_type: Chart
    by_tlp: Chart
    newest: tuple[Row, ...]
    days: int
    ingest: Columns
    sightings: Columns
    top_sighted: tuple[Sighted, ...]
    campaigns: tuple[Active, ...]
    intrusion_sets: tuple[Active, ...]
    home: bool
    peers: tuple[PeerStatus, ...] = ()
    findings: tuple[Active, ...] = ()
    narrative_hits: tuple[Active, ...] = ()


def parse_days(value: str | None) -> int:
    """The ``days`` query parameter: an integer from 1 to ``MAX_DAYS`` (default ``DAYS``)."""
    if value is None or value == "":
        return DAYS
    if not (value.isascii() and value.isdigit() and len(value) < 4) or not (
        1 <= int(value) <= MAX_DAYS
    ):
        raise InputFormatError(f"days must be a whole number from 1 to {MAX_DAYS}, got {value!r}")
    return int(value)


def dashboard(
    store: SqlStore,
    policy: Policy,
    caller: Caller,
    stats: Callable[[Caller], Stats],
    *,
    days: int = DAYS,
    now: datetime | None = None,
) -> Dashboard:
    seen = stats(caller)
    home = caller.org_id is not None and caller.org_id == policy.home_org
    sightings = _visible(store, policy, caller, store.tracked("sighting"))
    findings = _findings(store, policy, caller) if home else []
    return Dashboard(
        stats=seen,
        by_type=bar_chart("Objects by type", seen.by_type),
        by_tlp=bar_chart("Objects by TLP", seen.by_tlp, tlp=True),
        newest=tuple(newest(store, policy, caller)),
        days=days,
        ingest=ingest_chart(store, caller, home, days, now or datetime.now(UTC)),
        sightings=sightings_chart(sightings),
        top_sighted=tuple(top_sighted(store, policy, caller, sightings)),
        campaigns=tuple(active(store, policy, caller, "campaign")),
        intrusion_sets=tuple(active(store, policy, caller, "intrusion-set")),
        home=home,
        peers=tuple(store.federation_status()) if home else (),
        findings=tuple(f for f in findings if f.kind != "narrative")[:LISTED],
        narrative_hits=tuple(f for f in findings if f.kind == "narrative")[:LISTED],
    )


def newest(store: SqlStore, policy: Policy, caller: Caller) -> list[Row]:
    """Up to ``SHOWN`` of the ``SCAN`` most recently added current objects that ``caller``
    may see, as the policy shows them (redacted properties stay redacted)."""
    order = store.newest_ids(SCAN)
    rows: list[Row] = []
    for version, body in _views(store, policy, caller, order):
        tlp = version.tlp or "none"
        rows.append(
            Row(
                id=version.id,
                type=version.type,
                added=version.date_added[:19].replace("T", " "),
                tlp=tlp,
                tlp_css=tlp_css(tlp),
                name=_text(body.get("name")),
                value=_text(body.get("pattern", body.get("value"))),
            )
        )
        if len(rows) == SHOWN:
            break
    return rows


def ingest_chart(store: SqlStore, caller: Caller, home: bool, days: int, now: datetime) -> Columns:
    """Objects stored per hour (``days`` <= 2) or per day, the last bucket being now's."""
    hourly = days <= 2
    step, width = (timedelta(hours=1), 13) if hourly else (timedelta(days=1), 10)
    count = days * 24 if hourly else days
    end = now.astimezone(UTC)
    keys = [(end - step * i).strftime("%Y-%m-%dT%H:%M:%S")[:width] for i in range(count)][::-1]
    actors = None
    if not home:
        names = store.org_user_names(caller.org_id) if caller.org_id else []
        actors = [*names, *(f"api:{name}" for name in names)]
    totals: Counter[str] = Counter()
    for run in store.ingest_runs_since(keys[0], actors):
        totals[run.started[:width]] += run.stored
    label = "hour" if hourly else "day"
    return column_chart(
        f"Objects stored per {label}, last {days} day{'s' if days > 1 else ''}",
        [(key.replace("T", " ") + (":00" if hourly else ""), totals[key]) for key in keys],
    )


def sightings_chart(sightings: list[Tracked]) -> Columns:
    """The sightings' counts per day of ``last_seen``, the ``SIGHTING_DAYS`` days up to the
    newest one."""
    days = [s.seen[:10] for s in sightings if s.seen and len(s.seen) >= 10]
    if not days:
        return column_chart("Sightings per day", [])
    try:
        last = datetime.strptime(max(days), "%Y-%m-%d")
    except ValueError:
        return column_chart("Sightings per day", [])
    keys = [(last - timedelta(days=i)).strftime("%Y-%m-%d") for i in range(SIGHTING_DAYS)][::-1]
    totals: Counter[str] = Counter()
    for s in sightings:
        if s.seen:
            totals[s.seen[:10]] += s.count
    return column_chart(
        f"Sightings per day, {SIGHTING_DAYS} days to the newest",
        [(key, totals[key]) for key in keys],
    )


def top_sighted(
    store: SqlStore, policy: Policy, caller: Caller, sightings: list[Tracked]
) -> list[Sighted]:
    """The indicators ``caller`` may see that its visible sightings count most."""
    counts: Counter[str] = Counter()
    for s in sightings:
        if s.of and s.of.startswith("indicator--"):
            counts[s.of] += s.count
    ranked = [oid for oid, _ in counts.most_common(LISTED * 5)]
    out = [
        Sighted(
            id=version.id,
            name=_text(body.get("name")),
            value=_text(body.get("pattern")),
            count=counts[version.id],
        )
        for version, body in _views(store, policy, caller, ranked)
    ]
    return out[:LISTED]


def active(store: SqlStore, policy: Policy, caller: Caller, type_: str) -> list[Active]:
    """Current, not revoked objects of ``type_`` that ``caller`` may see, last seen first
    (``last_seen``, else ``modified``), among the newest stored."""
    rows = _visible(store, policy, caller, store.tracked(type_))[: SCAN // 2]
    found = [
        Active(id=version.id, name=_text(body.get("name")), seen=_seen(body))
        for version, body in _views(store, policy, caller, [r.id for r in rows])
        if not body.get("revoked")
    ]
    found.sort(key=lambda a: a.seen, reverse=True)
    return found[:LISTED]


def _findings(store: SqlStore, policy: Policy, caller: Caller) -> list[Active]:
    """The newest campaigns the disinformation analysis stored, with their kind."""
    out = []
    for version, body in _views(store, policy, caller, store.newest_findings(LISTED * 3)):
        labels = body.get("labels")
        labels = [x for x in labels if isinstance(x, str)] if isinstance(labels, list) else []
        kind = next((x for x in labels if x != "disinformation"), "")
        out.append(Active(id=version.id, name=_text(body.get("name")), seen=_seen(body), kind=kind))
    return out


def _visible(store: SqlStore, policy: Policy, caller: Caller, rows: list[Tracked]) -> list[Tracked]:
    """``rows`` that ``caller`` may see; those whose bytes need a closer look are decided
    on their bytes (and a sighting's count and target are read from the caller's view)."""
    decided: dict[tuple[str | None, tuple[str, ...]], bool] = {}
    plain: list[Tracked] = []
    closer: list[Tracked] = []
    for row in rows:
        if row.inspect:
            closer.append(row)
            continue
        key = (row.owner, row.markings)
        if key not in decided:
            decided[key] = policy.admits(caller, row.owner, policy.level(row.markings))
        if decided[key]:
            plain.append(row)
    raws = store.raws_of([r.seq for r in closer])
    for row in closer:
        raw = raws.get(row.seq)
        view = None if raw is None else policy.view(caller, row.owner, row.markings, raw)
        if view is not None:
            plain.append(_reread(row, view))
    plain.sort(key=lambda r: r.seq, reverse=True)
    return plain


def _reread(row: Tracked, view: bytes) -> Tracked:
    if row.type != "sighting":
        return row
    body = orjson.loads(view)
    of = body.get("sighting_of_ref")
    count = body.get("count", 1)
    seen = body.get("last_seen") or body.get("first_seen") or body.get("created")
    return msgspec.structs.replace(
        row,
        of=of if isinstance(of, str) else None,
        count=count if isinstance(count, int) and count >= 0 else 1,
        seen=seen if isinstance(seen, str) else None,
    )


def _views(
    store: SqlStore, policy: Policy, caller: Caller, ids: Iterable[str]
) -> list[tuple[Any, dict[str, Any]]]:
    """The current versions of ``ids`` that ``caller`` may see, in the order of ``ids``,
    with the parsed view the policy gives it."""
    order = list(ids)
    current = store.current_many(order)
    out = []
    for object_id in order:
        version = current.get(object_id)
        if version is None:
            continue
        view = policy.view(caller, version.owner, version.markings, version.raw)
        if view is not None:
            out.append((version, orjson.loads(view)))
    return out


def _seen(body: Mapping[str, Any]) -> str:
    value = body.get("last_seen") or body.get("modified") or body.get("created")
    return value[:19].replace("T", " ") if isinstance(value, str) else ""


def _text(value: object) -> str:
    if not isinstance(value, str):
        return ""
    return value if len(value) <= _TEXT else value[: _TEXT - 1] + "…"
