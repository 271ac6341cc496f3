"""What every line- or entry-based feed parser shares: the converter, rejects, timestamps.

Values become objects through ``ingest.ioc_list.Converter``, with the feed's TLP,
confidence and labels applied as ``IocOptions`` applies them. The indicator ids are the
feed's own (the scope ``feed:<name>``: deterministic, so a re-read is "unchanged", and
apart from another feed's indicator of the same value); the SCO and its ``based-on`` are
made only for a feed with ``observables = true``. A reject's
``origin`` names its place, ``"<origin>:line 17"`` (or ``":entry 3"`` for JSON feeds).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import msgspec
import orjson

from mburoja.errors import InputFormatError
from mburoja.ingest.ioc_list import Converter, IocOptions
from mburoja.stix.model import RawObject, Reject
from mburoja.stix.refang import detect, refang

if TYPE_CHECKING:
    from mburoja.feeds.catalogue import FeedSpec

Item = RawObject | Reject

_BOM: Final = b"\xef\xbb\xbf"
_SHOWN_MAX: Final = 200
#: Tag cells that mean "no tag".
_NO_TAG: Final = frozenset({"", "n/a", "none", "null", "-"})
_FEED_TIME: Final = re.compile(
    r"(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}:\d{2})(\.\d+)?)?(?:Z|UTC| UTC)?"
)


def ioc_options(spec: FeedSpec) -> IocOptions:
    """How a feed's values become objects: its TLP, confidence and labels, indicator ids of
    its own (``feed:<name>`` scope, so two feeds listing one value each keep their own
    indicator with their own TLP and confidence, and withdraw or age it on their own), and
    SCOs only when the feed asks for them."""
    return IocOptions(
        source=spec.name,
        tlp=spec.tlp,
        confidence=spec.confidence,
        labels=spec.labels,
        scope=f"feed:{spec.name}",
        observables=spec.observables,
    )


def converter(spec: FeedSpec, origin: str, now: str) -> Converter:
    """The value converter of the feed (see ``ioc_options``)."""
    return Converter(origin, ioc_options(spec), now)


def lines(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line without end-of-line) of every line, BOM removed."""
    data = data.removeprefix(_BOM)
    for number, line in enumerate(data.split(b"\n"), start=1):
        yield number, line.removesuffix(b"\r")


def text_lines(data: bytes, origin: str) -> Iterator[tuple[int, str, bytes] | Reject]:
    """(line number, stripped text, the line's bytes) of every line with something on it;
    a line that is not UTF-8 comes as a reject naming its number instead."""
    for number, raw in lines(data):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            reason = f"not valid UTF-8 (byte {exc.start}: {exc.reason})"
            yield reject(origin, number, "line", reason, raw)
            continue
        if text.strip():
            yield number, text.strip(), raw


def json_document(data: bytes, origin: str, kind: type, expected: str) -> Any:
    """The JSON document of ``data``, which must be a ``kind`` (``expected`` says what,
    for the error)."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InputFormatError(f"{origin}: not valid JSON: {exc}") from None
    if not isinstance(document, kind):
        raise InputFormatError(f"{origin}: expected {expected}")
    return document


def reject(
    origin: str, index: int, field: str, reason: str, raw: bytes, where: str = "line"
) -> Reject:
    """A reject for one line (or entry), its place named in ``origin``."""
    return Reject(f"{origin}:{where} {index}", index, None, field, reason, raw=raw)


def located(items: Iterable[Item], origin: str, where: str = "line") -> Iterator[Item]:
    """``items`` with each reject's origin naming its line (for ``ioc_list`` output)."""
    for item in items:
        if isinstance(item, Reject) and item.origin == origin:
            yield msgspec.structs.replace(item, origin=f"{origin}:{where} {item.index}")
        else:
            yield item


def shown(text: str) -> str:
    """``text`` shortened for a reject reason."""
    return repr(text if len(text) <= _SHOWN_MAX else text[:_SHOWN_MAX] + "…")


def feed_time(text: str) -> str:
    """A feed's ``2024-05-01 10:00:00`` (UTC) or ``2024-05-01`` as a STIX timestamp.

    Raises ``ValueError`` naming the text for anything else, or an impossible date."""
    match = _FEED_TIME.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{shown(text)} is not a time (expected YYYY-MM-DD HH:MM:SS, UTC)")
    day, clock, _ = match.groups()
    try:
        moment = datetime.strptime(f"{day} {clock or '00:00:00'}", "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise ValueError(f"{shown(text)} is not a valid date and time") from None
    return moment.replace(tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def tags(cell: object, separator: str = ",") -> list[str]:
    """The labels in a tags cell (a separated string or a JSON list); "n/a" and blanks dropped."""
    if isinstance(cell, str):
        parts: list[object] = list(cell.split(separator))
    elif isinstance(cell, list):
        parts = list(cell)
    else:
        return []
    return [p.strip() for p in parts if isinstance(p, str) and p.strip().lower() not in _NO_TAG]


def extra_for(
    spec: FeedSpec,
    *,
    valid_from: str | None = None,
    labels: Iterable[str] = (),
    confidence: int | None = None,
    references: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """The per-value indicator properties a feed entry adds to the feed's defaults."""
    extra: dict[str, Any] = {}
    if valid_from is not None:
        extra["valid_from"] = valid_from
    merged = list(dict.fromkeys([*spec.labels, *labels]))
    if merged:
        extra["labels"] = merged
    if confidence is not None:
        extra["confidence"] = confidence
    if references:
        extra["external_references"] = references
    return extra


def value_items(
    conv: Converter,
    text: str,
    index: int,
    raw: bytes,
    extra: dict[str, Any],
    where: str = "line",
) -> Iterator[Item]:
    """The objects for one refanged value, or a reject saying it is no indicator."""
    found = detect(refang(text))
    if found is None:
        reason = f"not a recognised indicator: {shown(text.strip())}"
        yield reject(conv.origin, index, "value", reason, raw, where)
        return
    yield from conv.objects(*found, index, extra)


def confidence_of(cell: object) -> int:
    """A 0..100 confidence from a cell; ``ValueError`` with the reason otherwise."""
    if isinstance(cell, bool):
        raise ValueError(f"{cell!r} is not a confidence (0..100)")
    try:
        value = int(cell) if isinstance(cell, (int, str)) else -1
    except ValueError:
        raise ValueError(f"{shown(str(cell))} is not a confidence (0..100)") from None
    if not 0 <= value <= 100:
        raise ValueError(f"{value} is outside 0..100")
    return value
