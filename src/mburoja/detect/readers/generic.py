"""CSV (with a header row) and JSON Lines telemetry, read through a mapping the user gives.

The mapping names the fields that carry observables and their kinds
(``{"query": "domain", "client": "ip"}``, kinds from :data:`~mburoja.detect.model.VALUE_KINDS`).
In JSON Lines a field may be a dotted path into nested objects with ``[]`` steps through
lists, as in :class:`~mburoja.detect.model.Field`. ``ts_field`` holds the time (epoch seconds
or ISO 8601), ``id_field`` an id that makes the record id ``<log>:<id>``; without one the
record id is a hash of the line.

This module also holds what the other readers share: :func:`epoch` (timestamps) and
:func:`nested_get` / :func:`json_get` (paths into JSON objects).
"""

from __future__ import annotations

import calendar
import csv
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any, Final

from mburoja.detect.model import VALUE_KINDS, Field, LogSpec, Record, line_id, values_of
from mburoja.detect.readers.source import Line, content, json_object
from mburoja.errors import ConfigError

if TYPE_CHECKING:
    from mburoja.detect.readers import ReadStats

_ISO: Final = re.compile(
    r"(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d:\d\d)(?:[.,](\d{1,9}))?\s*(?:([Zz])|([+-])(\d\d):?(\d\d)?)?$"
)


# --- timestamps -------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def _second(day: str, clock: str) -> int:
    """Epoch seconds of one UTC wall-clock second (cached: log lines share seconds)."""
    stamp = datetime.strptime(f"{day} {clock}", "%Y-%m-%d %H:%M:%S")
    return calendar.timegm(stamp.timetuple())


def iso_epoch(text: str) -> float:
    """Epoch seconds of an ISO 8601 date-time. An offset such as ``+0000``, ``+00:00`` or
    ``Z`` is applied; a time without one is taken as UTC, as sensors log."""
    match = _ISO.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not an ISO 8601 time")
    day, clock, fraction, _zulu, sign, hours, minutes = match.groups()
    seconds = float(_second(day, clock))
    if fraction:
        seconds += int(fraction) / 10 ** len(fraction)
    if sign:
        offset = int(hours) * 3600 + int(minutes or 0) * 60
        seconds += -offset if sign == "+" else offset
    return seconds


def epoch(value: object) -> float:
    """Epoch seconds of a logged time: a number, numeric text, or ISO 8601 text."""
    if isinstance(value, str):
        seconds = iso_epoch(value) if value[4:5] == "-" else float(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ValueError(f"{value!r} is not a time")
    if not math.isfinite(seconds):
        raise ValueError(f"{value!r} is not a time")
    return seconds


# --- paths into JSON --------------------------------------------------------------------


def _steps(path: str) -> tuple[tuple[str, bool], ...]:
    """``"dns.answers[].rdata"`` → ``(("dns", False), ("answers", True), ("rdata", False))``."""
    return tuple(
        (step[:-2], True) if step.endswith("[]") else (step, False) for step in path.split(".")
    )


def _walk(value: Any, steps: tuple[tuple[str, bool], ...]) -> Any:
    for index, (key, each) in enumerate(steps):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
        if value is None:
            return None
        if each:
            if not isinstance(value, list):
                return None
            rest = steps[index + 1 :]
            if not rest:
                return value
            out: list[Any] = []
            for item in value:
                found = _walk(item, rest)
                if isinstance(found, list):
                    out.extend(found)
                elif found is not None:
                    out.append(found)
            return out
    return value


#: Parsed paths: the field paths of the specs and mappings, so few.
_STEPS: dict[str, tuple[tuple[str, bool], ...]] = {}


def nested_get(obj: dict[str, Any], path: str) -> Any:
    """The value at ``path`` in a parsed JSON object: dotted steps into objects, ``[]``
    steps through lists (collecting a list of every item's value), None where it is not.
    One frame per call: readers call this for every field of every line."""
    steps = _STEPS.get(path)
    if steps is None:
        steps = _STEPS[path] = _steps(path)
    value: Any = obj
    for key, each in steps:
        if type(value) is not dict:
            return None
        value = value.get(key)
        if value is None:
            return None
        if each:
            return _walk(obj, steps)
    return value


def json_get(obj: dict[str, Any], path: str) -> Any:
    """:func:`nested_get`, but a flat key wins (Zeek writes ``"id.orig_h"`` as one key)."""
    value = obj.get(path)
    if value is not None or "." not in path:
        return value
    return nested_get(obj, path)


# --- the reader -------------------------------------------------------------------------


def mapping_spec(log: str, mapping: Mapping[str, str]) -> LogSpec:
    """The log spec of a user mapping, or a :class:`ConfigError` naming the wrong kind."""
    if not mapping:
        raise ConfigError("csv and jsonl telemetry need a mapping: --map FIELD=KIND, ...")
    for name, kind in mapping.items():
        if kind not in VALUE_KINDS:
            raise ConfigError(
                f"mapping {name}={kind}: unknown kind {kind!r}; "
                f"use one of {', '.join(sorted(VALUE_KINDS))}"
            )
    return LogSpec(name=log, fields=tuple(Field(name, kind) for name, kind in mapping.items()))


class _Shape:
    """What the generic readers need per line, fixed for the whole run."""

    def __init__(
        self, spec: LogSpec, ts_field: str | None, id_field: str | None, stats: ReadStats
    ) -> None:
        self.spec, self.ts_field, self.id_field, self.stats = spec, ts_field, id_field, stats

    def record(
        self, source: str, number: int, raw: bytes, get: Callable[[str], Any]
    ) -> Record | None:
        spec, stats = self.spec, self.stats
        ts = None
        if self.ts_field:
            stamp = get(self.ts_field)
            if stamp not in (None, ""):
                try:
                    ts = epoch(stamp)
                except ValueError as err:
                    stats.add_bad(source, number, f"{self.ts_field}: {err}")
                    return None
        rid = None
        if self.id_field:
            ident = get(self.id_field)
            if ident not in (None, ""):
                rid = f"{spec.name}:{ident}"
        stats.records += 1
        return Record(
            source=source,
            line=number,
            log=spec.name,
            rid=rid or line_id(spec.name, raw),
            ts=ts,
            values=values_of(spec, get),
        )


def parse_jsonl(
    lines: Iterable[Line],
    stats: ReadStats,
    spec: LogSpec,
    *,
    ts_field: str | None = None,
    id_field: str | None = None,
) -> Iterator[Record | None]:
    """Records of JSON Lines telemetry; ``None`` marks an idle followed source."""
    shape = _Shape(spec, ts_field, id_field, stats)
    for line in content(lines, stats):
        if line is None:
            yield None
            continue
        source, number, raw = line
        obj = json_object(line, stats)
        if obj is None:
            continue
        record = shape.record(source, number, raw, partial(json_get, obj))
        if record is not None:
            yield record


def parse_csv(
    lines: Iterable[Line],
    stats: ReadStats,
    spec: LogSpec,
    *,
    ts_field: str | None = None,
    id_field: str | None = None,
) -> Iterator[Record | None]:
    """Records of CSV telemetry. The first line of each source is its header row (a rotated
    file brings its own); a quoted field may not span lines."""
    shape = _Shape(spec, ts_field, id_field, stats)
    header: list[str] = []
    current = None
    for line in content(lines, stats):
        if line is None:
            yield None
            continue
        source, number, raw = line
        try:
            text = raw.decode()
        except UnicodeDecodeError as err:
            stats.add_bad(source, number, f"not UTF-8: {err}")
            continue
        try:
            row = next(csv.reader((text,)))
        except csv.Error as err:
            stats.add_bad(source, number, f"not CSV: {err}")
            continue
        if source != current:
            current = source
            header = [name.strip() for name in row]
            wanted = (*(field.path for field in spec.fields), ts_field, id_field)
            missing = [name for name in wanted if name and name not in header]
            if missing:
                stats.add_bad(source, number, f"header row lacks {', '.join(missing)}")
            continue
        if len(row) != len(header):
            stats.add_bad(source, number, f"expected {len(header)} fields, got {len(row)}")
            continue
        cells = dict(zip(header, row, strict=True))
        record = shape.record(source, number, raw, cells.get)
        if record is not None:
            yield record
