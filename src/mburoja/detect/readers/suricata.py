"""Suricata EVE JSON: one event per line, its kind in ``event_type``.

The matcher reads ``dns`` (both the v2 layout, ``dns.rrname`` with ``dns.answers`` and
``dns.grouped``, and the v3 one, ``dns.queries[]`` with ``dns.answers[]``), ``http``,
``tls``, ``flow``, ``fileinfo`` and ``alert`` (:data:`~mburoja.detect.model.LOGS`); other
event types (``stats``, ``anomaly``, ``netflow``...) are counted as ignored. Field paths walk
nested objects, ``[]`` steps walk lists (:func:`~mburoja.detect.readers.generic.nested_get`).
The record id is ``<log>:<flow_id>:<timestamp as written>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

from mburoja.detect.model import LOGS, Record, record_id, values_of
from mburoja.detect.readers.generic import iso_epoch, nested_get
from mburoja.detect.readers.source import Line, content, json_object

if TYPE_CHECKING:
    from mburoja.detect.readers import ReadStats

#: The specs by ``event_type``.
_SPECS = {
    name.removeprefix("suricata."): spec
    for name, spec in LOGS.items()
    if name.startswith("suricata.")
}


def parse(lines: Iterable[Line], stats: ReadStats) -> Iterator[Record | None]:
    """Records of EVE lines; ``None`` marks an idle followed source."""
    for line in content(lines, stats):
        if line is None:
            yield None
            continue
        source, number, raw = line
        event = json_object(line, stats)
        if event is None:
            continue
        kind = event.get("event_type")
        if not isinstance(kind, str):
            stats.add_bad(source, number, "event_type: missing")
            continue
        spec = _SPECS.get(kind)
        if spec is None:
            stats.ignored += 1
            continue
        stamp = event.get("timestamp")
        ts = None
        if stamp is not None:
            try:
                ts = iso_epoch(stamp if isinstance(stamp, str) else "")
            except ValueError:
                stats.add_bad(source, number, f"timestamp: {stamp!r} is not an ISO 8601 time")
                continue
        port = event.get("dest_port")
        if port is not None and (type(port) is not int or not 0 <= port <= 65535):
            stats.add_bad(source, number, f"dest_port: {port!r} is not a port number")
            continue
        flow = event.get("flow_id")
        get = partial(nested_get, event)
        stats.records += 1
        yield Record(
            source=source,
            line=number,
            log=spec.name,
            rid=record_id(spec.name, None if flow is None else str(flow), stamp, raw),
            ts=ts,
            values=values_of(spec, get),
            src_ip=_text(event.get("src_ip")),
            dst_ip=_text(event.get("dest_ip")),
            dst_port=port,
            proto=_text(event.get("proto")),
        )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
