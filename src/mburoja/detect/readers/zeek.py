"""Zeek logs, in the ASCII (TSV) format and in JSON, one reader for both.

**TSV.** A header block (``#separator \\x09``, ``#set_separator``, ``#empty_field``,
``#unset_field``, ``#path``, ``#open``, ``#fields``, ``#types``, ``#close``) sets the
columns of the data lines after it; a stream may hold several blocks (concatenated logs),
and each ``#separator`` starts afresh. The column positions of what the matcher reads are
worked out once per block (:class:`Plan`), so a data line costs one split. Unset (``-``)
and empty (``(empty)``) values are dropped; sets and vectors are split on the set
separator; ``\\xHH`` escapes are undone.

**JSON** (``LogAscii::use_json``): one object per line, flat dotted keys (``id.orig_h``),
lists for sets and vectors, ``ts`` as epoch seconds or ISO 8601. The log type is the
``_path`` key when there is one.

Either way, without ``#path``/``_path`` the log type is the one given (``log=``) or the one
the file name tells (``dns.log``, ``dns.04:00:00-05:00:00.log.gz``). Lines of log types the
matcher does not read (``weird``, ``notice``...) are counted as ignored.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final

from mburoja.detect.model import LOGS, LogSpec, Record, record_id, values_of
from mburoja.detect.readers.generic import epoch
from mburoja.detect.readers.source import Line, content, json_object

if TYPE_CHECKING:
    from mburoja.detect.readers import ReadStats

_ESCAPE: Final = re.compile(rb"\\x([0-9a-fA-F]{2})")
_JSON_TS: Final = re.compile(rb'"ts"\s*:\s*(-?[0-9][0-9.eE+-]*)')
_MULTI_TYPES: Final = ("set[", "vector[")
#: ``(source, line number, fields, raw line)`` -> the record, or why the line is bad
Builder = Callable[[str, int, list[str], bytes], "Record | str"]


def log_of_name(path: str) -> str | None:
    """The Zeek log type a file name tells: ``/logs/dns.04:00:00-05:00:00.log.gz`` → ``dns``.
    A follow source name (``dns.log@1234``) tells it too."""
    name = os.path.basename(path.split("@", 1)[0])
    stem = name.split(".", 1)[0]
    return stem if "." in name and stem else None


def spec_name(log: str) -> str:
    """``dns`` or ``zeek.dns`` → ``zeek.dns``."""
    return log if log.startswith("zeek.") else f"zeek.{log}"


def _unescape(value: str) -> str:
    if "\\x" not in value:
        return value
    data = _ESCAPE.sub(lambda match: bytes([int(match[1], 16)]), value.encode())
    return data.decode("utf-8", "replace")


class Header:
    """The header block in force."""

    def __init__(self, log: str | None) -> None:
        self.default = log
        self.reset()

    def reset(self) -> None:
        self.separator = "\t"
        self.set_separator = ","
        self.empty = "(empty)"
        self.unset = "-"
        self.path = self.default
        self.fields: list[str] | None = None
        self.types: list[str] = []

    def read(self, text: str) -> None:
        """Take in one ``#...`` line."""
        if text.startswith("#separator"):
            self.reset()
            self.separator = _unescape(text[len("#separator") :].strip(" ")) or "\t"
            return
        key, _, rest = text.partition(self.separator)
        if key == "#fields":
            self.fields = rest.split(self.separator)
        elif key == "#types":
            self.types = rest.split(self.separator)
        elif key == "#path":
            self.path = rest
        elif key == "#set_separator":
            self.set_separator = _unescape(rest)
        elif key == "#empty_field":
            self.empty = rest
        elif key == "#unset_field":
            self.unset = rest
        # #open, #close and comments change nothing


class Plan:
    """Where the matcher's fields sit in the lines of one header block (``-1``: absent).

    The TSV loop gives, from these positions, exactly what
    :func:`~mburoja.detect.model.values_of` gives (fields in spec order, then the HTTP URL
    and the endpoint) without a call per field; the tests hold the two to each other.
    """

    def __init__(self, header: Header) -> None:
        self.reason = ""
        self.spec: LogSpec | None = None
        fields = header.fields or []
        self.width = len(fields)
        self.set_separator = header.set_separator
        self.drop = frozenset({"", "-", "(empty)", header.unset, header.empty})
        if not header.path:
            self.reason = "no #path header and no log type given (pass --log)"
            return
        self.spec = spec = LOGS.get(spec_name(header.path))
        if spec is None:
            return
        column = {name: index for index, name in enumerate(fields)}
        types = header.types + [""] * (len(fields) - len(header.types))
        # (kind, column, multi, repeats): a pair can only come again from a set or after a
        # field of its kind, so only then is the line's list searched for it.
        values: list[tuple[str, int, bool, bool]] = []
        kinds: set[str] = set()
        for field in spec.fields:
            at = column.get(field.path)
            if at is None:
                continue
            multi = field.multi or types[at].startswith(_MULTI_TYPES)
            values.append((field.kind, at, multi, multi or field.kind in kinds))
            kinds.add(field.kind)
        self.values = tuple(values)
        self.uid = tuple(column[name] for name in spec.uid if name in column)
        self.ts = column.get(spec.ts, -1)
        self.src = column.get(spec.src_ip or "", -1)
        self.dst = column.get(spec.dst_ip or "", -1)
        self.port = column.get(spec.dst_port or "", -1)
        self.proto = column.get(spec.proto or "", -1)
        url = spec.name == "zeek.http" and "host" in column and "uri" in column
        self.url = (column["host"], column["uri"]) if url else None

    def builder(self) -> Builder:
        """The function that makes the record of one line split into its fields (escapes
        undone), or says why the line is bad. ``raw`` (the line) is read only when the
        record has no id field to name it by. The reader calls it for every line, the
        whole-file scan for the lines that hit: one definition of a Zeek record."""
        spec = self.spec
        assert spec is not None
        name, fields, drop, set_separator = spec.name, self.values, self.drop, self.set_separator
        ts_at, port_at, dst_at, src_at = self.ts, self.port, self.dst, self.src
        proto_at, uid_at, url_at = self.proto, self.uid, self.url
        ts_name, port_name = spec.ts, spec.dst_port

        def record(source: str, number: int, parts: list[str], raw: bytes) -> Record | str:
            values: list[tuple[str, str]] = []
            for kind, index, multi, repeats in fields:
                value = parts[index]
                if value in drop:
                    continue
                # each pair once, where it first comes, as values_of gives them
                if multi and set_separator in value:
                    for item in value.split(set_separator):
                        if item not in drop:
                            pair = (kind, item)
                            if pair not in values:
                                values.append(pair)
                elif not repeats:
                    values.append((kind, value))
                else:
                    pair = (kind, value)
                    if pair not in values:
                        values.append(pair)
            ts_text: str | None = parts[ts_at] if ts_at >= 0 else None
            ts = None
            if ts_text in drop:
                ts_text = None
            elif ts_text is not None:
                try:
                    ts = float(ts_text)
                except ValueError:
                    return f"{ts_name}: {ts_text!r} is not a time"
            port_text = parts[port_at] if port_at >= 0 else "-"
            port = None
            if port_text not in drop:
                try:
                    port = int(port_text)
                    if not 0 <= port <= 65535:
                        raise ValueError(port_text)
                except ValueError:
                    return f"{port_name}: {port_text!r} is not a port number"
            if url_at is not None:
                host, uri = parts[url_at[0]], parts[url_at[1]]
                if host not in drop and uri.startswith("/"):
                    values.append(("url", f"http://{host}{uri}"))
            dst = parts[dst_at] if dst_at >= 0 else None
            if dst in drop:
                dst = None
            elif port is not None:
                values.append(("endpoint", f"{dst}|{port_text}"))
            uid = None
            for index in uid_at:
                if parts[index] not in drop:
                    uid = parts[index]
                    break
            src = parts[src_at] if src_at >= 0 else None
            proto = parts[proto_at] if proto_at >= 0 else None
            return Record(
                source=source,
                line=number,
                log=name,
                rid=record_id(name, uid, ts_text, raw),
                ts=ts,
                values=values,
                src_ip=None if src in drop else src,
                dst_ip=dst,
                dst_port=port,
                proto=None if proto in drop else proto,
            )

        return record


def parse(lines: Iterable[Line], stats: ReadStats, *, log: str | None) -> Iterator[Record | None]:
    """Records of Zeek TSV or JSON lines; ``log`` is the type when the lines do not say.
    ``None`` marks an idle followed source."""
    header = Header(log)
    current = ""
    plan: Plan | None = None
    # The plan in force, unpacked into locals: this loop runs once per line.
    build: Builder | None = None
    separator = ""
    width = 0
    for line in content(lines, stats):
        if line is None:
            yield None
            continue
        source, number, raw = line
        if source != current:
            current, header, plan = source, Header(log), None
        first = raw[0]
        if first == 35:  # "#"
            header.read(raw.decode("utf-8", "replace"))
            plan = None
            continue
        if first == 123:  # "{"
            record = _json_record(source, number, raw, stats, log)
            if record is not None:
                stats.records += 1
                yield record
            continue
        if plan is None:
            if header.fields is None:
                stats.add_bad(source, number, "no #fields header before this line")
                continue
            plan = Plan(header)
            width, separator = plan.width, header.separator
            build = plan.builder() if plan.spec is not None else None
        if build is None:
            if plan.reason:
                stats.add_bad(source, number, plan.reason)
            else:
                stats.ignored += 1
            continue
        text = raw.decode("utf-8", "replace")
        parts = text.split(separator)
        if len(parts) != width:
            stats.add_bad(source, number, f"expected {width} fields (#fields), got {len(parts)}")
            continue
        if "\\" in text:
            parts = [_unescape(part) for part in parts]
        found = build(source, number, parts, raw)
        if type(found) is str:
            stats.add_bad(source, number, found)
            continue
        stats.records += 1
        yield found  # type: ignore[misc]


def _json_record(
    source: str, number: int, raw: bytes, stats: ReadStats, log: str | None
) -> Record | None:
    obj = json_object((source, number, raw), stats)
    if obj is None:
        return None
    path = obj.get("_path") or log
    if not isinstance(path, str) or not path:
        stats.add_bad(source, number, "no _path and no log type given (pass --log)")
        return None
    spec = LOGS.get(spec_name(path))
    if spec is None:
        stats.ignored += 1
        return None
    stamp = obj.get(spec.ts)
    ts = None
    ts_text = None
    if stamp is not None:
        try:
            ts = epoch(stamp)
        except ValueError as err:
            stats.add_bad(source, number, f"{spec.ts}: {err}")
            return None
        ts_text = stamp if isinstance(stamp, str) else _number_text(raw, stamp)
    port = obj.get(spec.dst_port) if spec.dst_port else None
    if port is not None:
        try:
            port = _port(port)
        except ValueError:
            stats.add_bad(source, number, f"{spec.dst_port}: {port!r} is not a port number")
            return None
    uid = next((str(obj[name]) for name in spec.uid if obj.get(name) not in (None, "")), None)
    return Record(
        source=source,
        line=number,
        log=spec.name,
        rid=record_id(spec.name, uid, ts_text, raw),
        ts=ts,
        values=values_of(spec, obj.get),
        src_ip=_text(obj.get(spec.src_ip)) if spec.src_ip else None,
        dst_ip=_text(obj.get(spec.dst_ip)) if spec.dst_ip else None,
        dst_port=port,
        proto=_text(obj.get(spec.proto)) if spec.proto else None,
    )


def _number_text(raw: bytes, value: float) -> str:
    """The ``ts`` number exactly as the line writes it (``1700000000.100000``, not
    ``1700000000.1``), so that the record id matches whoever else reads the line."""
    match = _JSON_TS.search(raw)
    if match is not None:
        text = match[1].decode()
        try:
            if float(text) == value:
                return text
        except ValueError:
            pass
    return str(value)


def _port(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(value)
    port = int(value)
    if not 0 <= port <= 65535:
        raise ValueError(value)
    return port


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
