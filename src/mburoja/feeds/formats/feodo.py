"""The ``feodo-csv`` and ``feodo-json`` formats: Feodo Tracker's botnet C2 IP blocklist.

CSV (``ipblocklist.csv``), header in a comment line: ``first_seen_utc, dst_ip, dst_port,
c2_status, last_online, malware``. JSON (``ipblocklist.json``): a list of objects with
``ip_address``, ``port``, ``status``, ``first_seen``, ``last_online``, ``malware`` and more.
The IP becomes the indicator, first-seen its ``valid_from``, the malware family a label. A JSON
reject names its entry (``feodo:entry 3``, 1-based).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

import orjson

from mburoja.config import LimitSettings
from mburoja.feeds.catalogue import FormatOptions
from mburoja.feeds.formats import common, table
from mburoja.feeds.formats.common import Item

if TYPE_CHECKING:
    from mburoja.feeds.catalogue import FeedSpec

LAYOUT: Final = FormatOptions(column=1, first_seen_column=0, tags_column=5)


def read_csv(
    data: bytes, origin: str, spec: FeedSpec, now: str, limits: LimitSettings
) -> Iterator[Item]:
    """The objects of a Feodo Tracker CSV blocklist."""
    return table.rows(data, origin, spec, now, LAYOUT)


def read_json(
    data: bytes, origin: str, spec: FeedSpec, now: str, limits: LimitSettings
) -> Iterator[Item]:
    """The objects of a Feodo Tracker JSON blocklist."""
    entries = common.json_document(data, origin, list, "a JSON list of blocklist entries")
    return _entries(entries, origin, spec, now)


def _entries(entries: list[Any], origin: str, spec: FeedSpec, now: str) -> Iterator[Item]:
    conv = common.converter(spec, origin, now)
    for number, entry in enumerate(entries, start=1):
        raw = orjson.dumps(entry)
        if not isinstance(entry, dict):
            yield common.reject(origin, number, "entry", "not a JSON object", raw, "entry")
            continue
        value = entry.get("ip_address")
        if not isinstance(value, str) or not value.strip():
            reason = "no ip_address"
            yield common.reject(origin, number, "ip_address", reason, raw, "entry")
            continue
        first_seen = entry.get("first_seen")
        try:
            valid_from = common.feed_time(first_seen) if isinstance(first_seen, str) else None
        except ValueError as exc:
            yield common.reject(origin, number, "first_seen", str(exc), raw, "entry")
            continue
        labels = common.tags([entry.get("malware")])
        extra = common.extra_for(spec, valid_from=valid_from, labels=labels)
        yield from common.value_items(conv, value, number, raw, extra, "entry")
