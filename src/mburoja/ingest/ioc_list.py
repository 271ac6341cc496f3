"""Plain-text and CSV IOC lists to STIX 2.1: one indicator, one SCO and one ``based-on`` each.

Feeds and partners still send indicators as lists: one value a line, or a spreadsheet export
with the value in some column. Each recognised value (refanged first, see
``stix.refang.detect``) becomes

* an ``indicator`` whose id is the UUIDv5 of ``"mburoja-ioc|" + pattern`` in the STIX
  namespace, so the same value converts to the same id on every instance and a re-import is
  "unchanged" (``derived``) rather than a new object;
* the matching SCO (``ipv4-addr``, ``ipv6-addr``, ``domain-name``, ``url``, ``email-addr``,
  ``file`` with one hash, ``autonomous-system``) with its deterministic STIX id;
* a ``relationship`` ``based-on`` from the indicator to the SCO.

``IocOptions.scope`` gives one list (a feed) its own indicator ids, and
``IocOptions.observables`` False leaves out the SCO and the relationship: the indicator's
pattern already holds the value, and search and detection read it from there.

With a TLP level every object carries its marking, SCOs and relationships too, since access
is decided per object; the TLP 2.0 marking-definition is emitted once, before the first
indicator. The provenance label (``source``) is not written into the objects: the ingest
pipeline records it, and keeping it out keeps the ids and the content the same whoever sends
the value.

Blank lines and comment lines (``#``, ``;``, ``//``) are skipped; a line that holds no
indicator, or is not UTF-8, becomes a ``Reject`` naming its line number. A value seen twice
in one input gives one indicator.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from typing import Any, Final

import msgspec
import orjson

from mburoja.errors import InputFormatError
from mburoja.stix import markings
from mburoja.stix.identifiers import sco_id, uuid5_id
from mburoja.stix.model import RawObject, Reject
from mburoja.stix.refang import detect, refang

Item = RawObject | Reject


class IocOptions(msgspec.Struct, frozen=True, kw_only=True):
    """How to label the indicators of one IOC list, and how to read a CSV one."""

    source: str  # provenance label, e.g. "vendor-x"
    tlp: str | None = None  # "clear", "green", "amber", "amber+strict", "red" (or "white")
    confidence: int | None = None  # 0..100
    labels: tuple[str, ...] = ()
    valid_from: str | None = None  # STIX timestamp; default: the ingest time passed in
    valid_until: str | None = None
    column: str | None = None  # CSV: column name or 0-based index; default: every cell
    delimiter: str | None = None  # CSV: sniffed if None
    #: None: the indicator id depends on the pattern alone (the same on every instance and
    #: from every list); a scope (a feed's ``feed:<name>``) gives the list its own indicator
    #: of each value, so two feeds listing one value with different TLP, confidence or
    #: labels do not overwrite each other's indicator on every run
    scope: str | None = None
    #: also make the value's SCO and the indicator's ``based-on`` relationship to it
    observables: bool = True


_EXPECTED: Final = "(expected ip, cidr, domain, url, hash, email or ASN)"
_COMMENTS: Final = ("#", ";", "//")
_CSV_DELIMITERS: Final = ",;\t|"
_SHOWN_MAX: Final = 200
_HEADER_CELL: Final = re.compile(r"[A-Za-z][A-Za-z0-9 _./()-]*")
_BOM: Final = b"\xef\xbb\xbf"

#: kind -> (SCO type, STIX hash name or None)
_SCO_TYPE: Final[dict[str, tuple[str, str | None]]] = {
    "ipv4": ("ipv4-addr", None),
    "ipv4-net": ("ipv4-addr", None),
    "ipv6": ("ipv6-addr", None),
    "ipv6-net": ("ipv6-addr", None),
    "domain": ("domain-name", None),
    "url": ("url", None),
    "email": ("email-addr", None),
    "asn": ("autonomous-system", None),
    "md5": ("file", "MD5"),
    "sha1": ("file", "SHA-1"),
    "sha256": ("file", "SHA-256"),
    "sha512": ("file", "SHA-512"),
}


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def pattern_for(kind: str, value: str) -> str:
    """The STIX pattern that matches one detected value (see ``stix.refang.detect``)."""
    sco_type, hash_name = _SCO_TYPE[kind]
    if hash_name is not None:
        return f"[file:hashes.'{hash_name}' = '{value}']"
    if kind == "asn":
        return f"[autonomous-system:number = {int(value[2:])}]"
    op = "ISSUBSET" if kind.endswith("-net") else "="
    return f"[{sco_type}:value {op} '{_escaped(value)}']"


def _sco(kind: str, value: str) -> dict[str, Any]:
    sco_type, hash_name = _SCO_TYPE[kind]
    props: dict[str, Any]
    if hash_name is not None:
        props = {"hashes": {hash_name: value}}
    elif kind == "asn":
        props = {"number": int(value[2:])}
    else:
        props = {"value": value}
    return {"type": sco_type, "spec_version": "2.1", "id": sco_id(sco_type, props), **props}


class Converter:
    """Turns detected values into objects; remembers what one input has already produced.

    Public so that feed parsers (``mburoja.feeds.formats``) make the very same objects and
    ids as an IOC list does, adding per-value properties through ``objects(..., extra=)``.
    """

    def __init__(self, origin: str, options: IocOptions, now: str) -> None:
        self.origin = origin
        self.now = now
        self.seen: set[tuple[str, str]] = set()
        self.marking: dict[str, object] | None = None
        self.common: dict[str, Any] = {}
        self.id_prefix = b"mburoja-ioc|" + (
            b"" if options.scope is None else options.scope.encode() + b"|"
        )
        self.observables = options.observables
        if options.tlp is not None:
            try:
                marking_id = markings.tlp_marking_id(options.tlp)
            except KeyError:
                valid = ", ".join(markings.TLP2)
                raise InputFormatError(
                    f"{origin}: unknown TLP level {options.tlp!r}; use one of {valid} (or white)"
                ) from None
            self.marking = markings.tlp2_definition(markings.TLP_LEVEL_BY_ID[marking_id])
            self.common["object_marking_refs"] = [marking_id]
        if options.confidence is not None and not 0 <= options.confidence <= 100:
            raise InputFormatError(
                f"{origin}: confidence {options.confidence} is outside 0..100; give 0 to 100"
            )
        self.indicator_extra: dict[str, Any] = {"valid_from": options.valid_from or now}
        if options.valid_until is not None:
            self.indicator_extra["valid_until"] = options.valid_until
        if options.labels:
            self.indicator_extra["labels"] = list(options.labels)
        if options.confidence is not None:
            self.indicator_extra["confidence"] = options.confidence

    def objects(
        self, kind: str, value: str, index: int, extra: dict[str, Any] | None = None
    ) -> Iterator[RawObject]:
        """The objects for one value, unless this input has produced them already.

        ``extra`` adds or overrides indicator properties for this value only (a feed's
        first-seen time as ``valid_from``, its tags as ``labels``, a row's confidence).
        """
        if (kind, value) in self.seen:
            return
        self.seen.add((kind, value))
        if self.marking is not None:
            yield self._raw(self.marking, index)
            self.marking = None
        pattern = pattern_for(kind, value)
        indicator_id = uuid5_id("indicator", self.id_prefix + pattern.encode())
        indicator = {
            "type": "indicator",
            "spec_version": "2.1",
            "id": indicator_id,
            "created": self.now,
            "modified": self.now,
            "name": value,
            "indicator_types": ["malicious-activity"],
            "pattern": pattern,
            "pattern_type": "stix",
            "pattern_version": "2.1",
            **self.indicator_extra,
            **(extra or {}),
            **self.common,
        }
        yield self._raw(indicator, index)
        if not self.observables:
            return
        sco = _sco(kind, value)
        relationship = {
            "type": "relationship",
            "spec_version": "2.1",
            "id": uuid5_id(
                "relationship", f"mburoja-ioc|{indicator_id}|based-on|{sco['id']}".encode()
            ),
            "created": self.now,
            "modified": self.now,
            "relationship_type": "based-on",
            "source_ref": indicator_id,
            "target_ref": sco["id"],
            **self.common,
        }
        yield self._raw({**sco, **self.common}, index)
        yield self._raw(relationship, index)

    def _raw(self, obj: dict[str, Any], index: int) -> RawObject:
        return RawObject(orjson.dumps(obj), self.origin, index, derived=True)

    def not_an_indicator(self, text: str, index: int, raw: bytes) -> Reject:
        shown = text if len(text) <= _SHOWN_MAX else text[:_SHOWN_MAX] + "…"
        reason = f"not a recognised indicator: {shown!r} {_EXPECTED}"
        return Reject(self.origin, index, None, "value", reason, raw=raw)

    def not_utf8(self, exc: UnicodeDecodeError, index: int, raw: bytes) -> Reject:
        reason = f"line {index} is not valid UTF-8 (byte {exc.start}: {exc.reason})"
        return Reject(self.origin, index, None, "line", reason, raw=raw)


def _lines(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line without its end-of-line) for every line."""
    data = data.removeprefix(_BOM)
    for number, line in enumerate(data.split(b"\n"), start=1):
        yield number, line.removesuffix(b"\r")


def _is_comment(text: str) -> bool:
    stripped = text.lstrip()
    return not stripped or stripped.startswith(_COMMENTS)


_INLINE_COMMENT: Final = re.compile(r"\s+(?:#|//).*$")


def convert_text(data: bytes, origin: str, options: IocOptions, now: str) -> Iterator[Item]:
    """The objects for a plain-text IOC list, one value a line (see the module docstring).

    A comment after the value (``evil.example  # C2``) is ignored. Raises
    ``InputFormatError`` for an unknown TLP level or a confidence outside 0..100.
    """
    converter = Converter(origin, options, now)
    return _text_items(data, converter)


def _text_items(data: bytes, converter: Converter) -> Iterator[Item]:
    for number, line in _lines(data):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield converter.not_utf8(exc, number, line)
            continue
        if _is_comment(text):
            continue
        value = refang(_INLINE_COMMENT.sub("", text))
        found = detect(value)
        if found is None:
            yield converter.not_an_indicator(text.strip(), number, line)
            continue
        yield from converter.objects(*found, number)


def looks_like_csv(data: bytes) -> bool:
    """True if the first lines share a CSV delimiter (``,``, ``;``, tab or ``|``) on every line."""
    sample = [
        text
        for _, line in _lines(data[:8192])
        if not _is_comment(text := line.decode("utf-8", errors="replace"))
    ][:20]
    if len(sample) > 1 and len(data) > 8192:
        sample.pop()  # possibly cut short
    if not sample:
        return False
    return any(all(d in line for line in sample) for d in _CSV_DELIMITERS)


def _delimiter(lines: list[str], given: str | None) -> str:
    if given is not None:
        if len(given) != 1:
            raise InputFormatError(f"CSV delimiter must be one character, got {given!r}")
        return given
    sample = [line for line in lines if not _is_comment(line)][:50]
    counts = {d: sum(d in line for line in sample) for d in _CSV_DELIMITERS}
    best = max(_CSV_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _column_index(column: str | None, header: list[str] | None, origin: str) -> int | None:
    if column is None:
        return None
    if column.strip().isdigit():
        return int(column)
    names = [cell.strip().lower() for cell in header or []]
    wanted = column.strip().lower()
    if wanted not in names:
        shown = ", ".join(repr(cell.strip()) for cell in header or []) or "no header row"
        raise InputFormatError(f"{origin}: CSV has no column {column!r} (header: {shown})")
    return names.index(wanted)


def convert_csv(data: bytes, origin: str, options: IocOptions, now: str) -> Iterator[Item]:
    """The objects for a CSV IOC list (see the module docstring).

    Without ``options.column`` every cell of a row is tried and each indicator found is kept; a
    row with none is rejected. A first row with no indicator whose cells look like names is a
    header and skipped. Raises ``InputFormatError`` for bad options or an unknown column name.
    """
    converter = Converter(origin, options, now)
    rows: list[tuple[int, bytes, str]] = []
    undecodable: list[Reject] = []
    for number, line in _lines(data):
        try:
            rows.append((number, line, line.decode("utf-8")))
        except UnicodeDecodeError as exc:
            undecodable.append(converter.not_utf8(exc, number, line))
    delimiter = _delimiter([text for _, _, text in rows], options.delimiter)
    records = _records(rows, delimiter)
    header: list[str] | None = None
    first = next(records, None)
    named_column = options.column is not None and not options.column.strip().isdigit()
    if first is not None and (named_column or _is_header(first[2])):
        header = first[2]
        first = None
    column = _column_index(options.column, header, origin)
    return _csv_items(converter, undecodable, first, records, column)


def _is_comment_row(text: str, delimiter: str) -> bool:
    stripped = text.lstrip()
    if not stripped:
        return True
    if delimiter == ";":
        return stripped.startswith(("#", "//"))
    return stripped.startswith(_COMMENTS)


def _records(
    rows: list[tuple[int, bytes, str]], delimiter: str
) -> Iterator[tuple[int, bytes, list[str]]]:
    """(line number, raw bytes, cells) of each data row; comment and blank rows left out."""
    kept = [(n, raw, text) for n, raw, text in rows if not _is_comment_row(text, delimiter)]
    last = [0]  # index in ``kept`` of the last line the reader took: where its row ends

    def texts() -> Iterator[str]:
        for i, (_, _, text) in enumerate(kept):
            last[0] = i
            yield text

    reader = csv.reader(texts(), delimiter=delimiter, skipinitialspace=True, strict=False)
    for cells in reader:
        number, raw, _ = kept[last[0]]
        yield number, raw, cells


def _is_header(cells: list[str]) -> bool:
    values = [cell.strip() for cell in cells if cell.strip()]
    if not values or any(detect(refang(cell)) is not None for cell in values):
        return False
    return all(_HEADER_CELL.fullmatch(cell) is not None for cell in values)


def _csv_items(
    converter: Converter,
    undecodable: list[Reject],
    first: tuple[int, bytes, list[str]] | None,
    records: Iterator[tuple[int, bytes, list[str]]],
    column: int | None,
) -> Iterator[Item]:
    pending = sorted(undecodable, key=lambda r: r.index, reverse=True)

    def rows() -> Iterator[tuple[int, bytes, list[str]]]:
        if first is not None:
            yield first
        yield from records

    for number, raw, cells in rows():
        while pending and pending[-1].index < number:
            yield pending.pop()
        if column is not None:
            if column >= len(cells):
                reason = f"row has {len(cells)} cells, no column {column} (0-based)"
                yield Reject(converter.origin, number, None, "column", reason, raw=raw)
                continue
            cells = [cells[column]]
        if not any(cell.strip() for cell in cells):
            continue  # an empty row, or an empty cell in the chosen column
        found = [f for f in (detect(refang(cell)) for cell in cells) if f is not None]
        if not found:
            shown = raw.decode("utf-8").strip() if column is None else cells[0].strip()
            yield converter.not_an_indicator(shown, number, raw)
            continue
        for kind, value in found:
            yield from converter.objects(kind, value, number)
    while pending:
        yield pending.pop()
