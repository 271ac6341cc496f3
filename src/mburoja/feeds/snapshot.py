"""Full-snapshot feeds: a value the feed stops listing is withdrawn after ``missing_runs``.

A feed with ``full_snapshot = true`` publishes its whole list at every download, so a value
that is not there any more has been taken off by its provider. After each *good* run (a 304
or a failed run says nothing about the list, and does not count) the runner passes the
indicator ids the document listed to ``withdraw``:

* the store counts, per tracked id, the good runs in a row it was missing
  (``store.advance_feed_values``; bulk statements, writes only for what changed);
* each id missing ``spec.missing_runs`` runs in a row gets a new version of its indicator
  with ``valid_until`` set to the run time and ``modified`` bumped, ingested with the feed's
  source ``feed:<name>``: the detection index and sensor exports, which honour
  ``valid_until``, drop it, the store keeps it and its history, and it stays searchable;
* if the value comes back later, the feed's ordinary object (no ``valid_until``, a newer
  ``modified``) differs from the withdrawn version, so it becomes a new current version.

Only a version the feed itself wrote is withdrawn: when the indicator's current version came
from somewhere else (an analyst's edit, an import, another feed, a partner organisation),
that source's word stands over this feed's silence; the feed stops tracking the value and
leaves it as it is. A run that lists no indicator at all withdraws nothing and counts nothing
as missing: an empty download is far likelier a broken export than a provider withdrawing its
whole list.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

import msgspec
import orjson

from mburoja.config import Settings
from mburoja.feeds.catalogue import FeedSpec
from mburoja.feeds.incremental import Tally
from mburoja.ingest.pipeline import Ingestor
from mburoja.stix import timestamps
from mburoja.stix.model import RawObject, Reject
from mburoja.store.sql import SqlStore

_INDICATOR = "indicator--"


class _HasId(msgspec.Struct):
    id: str = ""


_has_id = msgspec.json.Decoder(_HasId)


class Seen:
    """Collects the indicator ids of the items that pass through ``watch``."""

    def __init__(self) -> None:
        self.ids: set[str] = set()

    def watch(self, items: Iterable[RawObject | Reject]) -> Iterator[RawObject | Reject]:
        for item in items:
            if isinstance(item, RawObject):
                try:
                    oid = _has_id.decode(item.raw).id
                except msgspec.DecodeError:
                    oid = ""  # the ingest rejects it, with the reason
                if oid.startswith(_INDICATOR):
                    self.ids.add(oid)
            yield item


def _after(moment: str, floor: str | None) -> str:
    """``moment``, or a millisecond after ``floor`` when ``moment`` is not later than it."""
    if floor is None:
        return moment
    try:
        if timestamps.parse(moment) > timestamps.parse(floor):
            return moment
        later = timestamps.parse(floor) + timedelta(milliseconds=1)
    except ValueError:
        return moment
    return later.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def withdrawn_version(obj: dict[str, Any], now: str) -> dict[str, Any]:
    """``obj`` (an indicator) as withdrawn at ``now``: ``valid_until`` now, ``modified``
    bumped (both kept after ``valid_from`` and the old ``modified``, as STIX requires)."""
    out = dict(obj)
    out["modified"] = _after(now, obj.get("modified"))
    out["valid_until"] = _after(now, obj.get("valid_from"))
    return out


def withdraw(
    store: SqlStore,
    settings: Settings,
    spec: FeedSpec,
    seen: Seen,
    *,
    now: str,
    holder: str,
    tally: Tally,
) -> int:
    """Count a good run that listed ``seen`` and withdraw what has been missing long enough
    (see the module docstring). Returns how many indicators got a withdrawing version."""
    if not seen.ids:
        return 0
    gone = store.advance_feed_values(spec.name, seen.ids, now)
    due = sorted(oid for oid, runs in gone.items() if runs >= spec.missing_runs)
    if not due:
        return 0
    source = f"feed:{spec.name}"
    current = store.current_many(due)
    items: list[RawObject | Reject] = []
    for oid in due:
        version = current.get(oid)
        if version is None or version.revoked or version.source != source:
            continue  # gone, revoked, or someone else's word: left as it is
        if version.owner is not None:
            continue  # a partner organisation's object is theirs to change
        obj = orjson.loads(version.raw)
        until = obj.get("valid_until")
        if isinstance(until, str) and _after(now, until) == now:
            continue  # already expired
        raw = orjson.dumps(withdrawn_version(obj, now))
        items.append(RawObject(raw, f"{source} withdrawal", len(items)))
    withdrawn = 0
    if items:
        report = Ingestor(store, settings, on_commit=tally.commit).run(
            items, source=source, actor=holder, collection=settings.feeds.collection
        )
        tally.close(report)
        withdrawn = report.new_versions
    store.forget_feed_values(spec.name, due)
    return withdrawn
