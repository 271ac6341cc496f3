"""Telemetry readers: log lines in, :class:`~mburoja.detect.model.Record`\\ s out.

::

    reader = read("dns.log")                 # format told from the first line
    for batch in reader.batches(10_000):     # or: for record in reader
        ...
    reader.stats                             # lines, records, bad, ignored, bad_lines

Formats (:data:`FORMATS`): ``zeek`` (TSV or JSON), ``eve`` (Suricata), ``squid`` (native
access.log), ``csv`` and ``jsonl`` (with a user mapping, :mod:`.generic`). ``auto`` looks at
the first non-empty line: ``#separator`` is Zeek TSV; a JSON object with ``event_type`` is
EVE, one with ``_path``, ``uid``, ``fuid``, ``id.orig_h`` or ``certificate.serial`` is Zeek
JSON; a line shaped like access.log is Squid. CSV and JSON Lines must be named.

A line that cannot be used is a :class:`~mburoja.detect.model.BadLine` (where, and why,
naming the field); it is counted and the run goes on. Lines of log or event types the
matcher does not read are counted as ``ignored``. Header lines (Zeek ``#...``, the CSV
header row) and blank lines count as ``lines`` only.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import chain
from typing import Final

import msgspec
import orjson

from mburoja.detect.model import BadLine, Record
from mburoja.detect.readers import generic, squid, suricata, zeek
from mburoja.detect.readers.source import IDLE, STDIN, Line, open_lines, stream_lines
from mburoja.errors import ConfigError, InputFormatError

__all__ = ["FORMATS", "ReadStats", "Reader", "detect_format", "open_lines", "read"]

FORMATS: Final = ("auto", "zeek", "eve", "squid", "csv", "jsonl")
#: How many bad lines a run keeps for the report (the count stays exact beyond it).
MAX_BAD_KEPT: Final = 1000
_ZEEK_JSON_KEYS: Final = ("_path", "uid", "id.orig_h", "fuid", "certificate.serial")


class ReadStats(msgspec.Struct, kw_only=True):
    """What a reader has seen so far; it grows while the records are read."""

    lines: int = 0
    records: int = 0
    bad: int = 0
    ignored: int = 0
    bad_lines: list[BadLine] = msgspec.field(default_factory=list)

    def add_bad(self, source: str, line: int, reason: str) -> None:
        self.bad += 1
        if len(self.bad_lines) < MAX_BAD_KEPT:
            self.bad_lines.append(BadLine(source, line, reason))


class Reader:
    """The records of one input, read once, as they come or in micro-batches.

    ``format`` is the format in use; with ``auto`` while following it is ``""`` until the
    first line has arrived.
    """

    def __init__(self, records: Iterator[Record | None], stats: ReadStats, fmt: str) -> None:
        self._records = records
        self.stats = stats
        self.format = fmt

    def __iter__(self) -> Iterator[Record]:
        for record in self._records:
            if record is not None:
                yield record

    def batches(self, size: int = 10_000) -> Iterator[list[Record]]:
        """Lists of up to ``size`` records. A followed file hands on what it has whenever
        it runs out of new lines, so a quiet log does not hold records back."""
        batch: list[Record] = []
        for record in self._records:
            if record is None:
                if batch:
                    yield batch
                    batch = []
                continue
            batch.append(record)
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    def close(self) -> None:
        """Stop reading and close the input."""
        close = getattr(self._records, "close", None)
        if close is not None:
            close()


def detect_format(line: bytes) -> str | None:
    """The format one non-empty line shows, or None."""
    text = line.strip()
    if text.startswith((b"#separator", b"#fields")):
        return "zeek"
    if text.startswith(b"{"):
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError:
            return None
        if isinstance(obj, dict):
            if "event_type" in obj:
                return "eve"
            if any(key in obj for key in _ZEEK_JSON_KEYS):
                return "zeek"
        return None
    if squid.SHAPE.match(text):
        return "squid"
    return None


def read(
    path: str,
    *,
    fmt: str = "auto",
    log: str | None = None,
    mapping: Mapping[str, str] | None = None,
    ts_field: str | None = None,
    id_field: str | None = None,
    follow: bool = False,
    stop: threading.Event | None = None,
) -> Reader:
    """A reader of the telemetry at ``path`` (``-`` for stdin, ``.gz`` decompressed).

    ``log`` names the log type where the lines do not (Zeek JSON without ``_path``, a Zeek
    file whose name does not tell it), or the log name of csv/jsonl records. ``mapping``,
    ``ts_field`` and ``id_field`` are for csv and jsonl (:mod:`.generic`). ``follow`` and
    ``stop`` are those of :func:`~mburoja.detect.readers.source.open_lines`.

    Without ``follow`` a missing file fails here (``FileNotFoundError``) and an ``auto``
    format is told now, so a wrong input fails here with an
    :class:`~mburoja.errors.InputFormatError`; while following it is told from the first
    line that arrives (and a missing file is waited for).
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown telemetry format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt in ("csv", "jsonl"):
        generic.mapping_spec(log or fmt, mapping or {})  # a wrong mapping fails before reading
    if not follow and path != STDIN and not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "no such telemetry file", path)
    stats = ReadStats()
    lines = stream_lines(path, follow=follow, stop=stop)
    options = _Options(path, log, mapping or {}, ts_field, id_field)
    if fmt != "auto":
        return Reader(options.parser(fmt, lines, stats), stats, fmt)
    if follow:
        reader = Reader(iter(()), stats, "")
        reader._records = _detect_then_parse(lines, stats, options, reader)
        return reader
    seen, first = _peek(lines)
    fmt = _detect(first, path)
    return Reader(options.parser(fmt, chain(seen, lines), stats), stats, fmt)


@dataclass(frozen=True)
class _Options:
    path: str
    log: str | None
    mapping: Mapping[str, str]
    ts_field: str | None
    id_field: str | None

    def parser(self, fmt: str, lines: Iterable[Line], stats: ReadStats) -> Iterator[Record | None]:
        if fmt == "zeek":
            return zeek.parse(lines, stats, log=self.log or zeek.log_of_name(self.path))
        if fmt == "eve":
            return suricata.parse(lines, stats)
        if fmt == "squid":
            return squid.parse(lines, stats)
        spec = generic.mapping_spec(self.log or fmt, self.mapping)
        parse = generic.parse_csv if fmt == "csv" else generic.parse_jsonl
        return parse(lines, stats, spec, ts_field=self.ts_field, id_field=self.id_field)


def _peek(lines: Iterator[Line]) -> tuple[list[Line], Line | None]:
    """The lines up to the first non-empty one, and that one."""
    seen: list[Line] = []
    for item in lines:
        seen.append(item)
        if item[1] != IDLE and item[2].strip():
            return seen, item
    return seen, None


def _detect(first: Line | None, path: str) -> str:
    if first is None:
        return "zeek"  # nothing to read: any parser reads nothing
    fmt = detect_format(first[2])
    if fmt is None:
        source, number, raw = first
        shown = raw[:80].decode("utf-8", "replace")
        raise InputFormatError(
            f"{source} line {number}: cannot tell the telemetry format from {shown!r}; "
            "pass --format zeek|eve|squid, or --format csv|jsonl with --map FIELD=KIND"
        )
    return fmt


def _detect_then_parse(
    lines: Iterator[Line], stats: ReadStats, options: _Options, reader: Reader
) -> Iterator[Record | None]:
    seen, first = _peek(lines)
    reader.format = _detect(first, options.path)
    yield from options.parser(reader.format, chain(seen, lines), stats)
