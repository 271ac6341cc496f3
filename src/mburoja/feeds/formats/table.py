"""The ``csv`` format: a vendor CSV with the value in one column, and optional columns.

``FormatOptions`` says which column holds the value (0-based index, or a header name with
``header = true``), and optionally which hold the first-seen time (the indicator's
``valid_from``), tags (``labels``) and a per-row confidence. Lines starting with one of
``comment_prefixes`` and blank lines are skipped. Each data row gives one indicator or one
reject naming its line: a short row, a cell that is no indicator, a bad time or confidence.
The abuse.ch CSV exports are this reader with fixed options (``urlhaus``, ``feodo``,
``malwarebazaar``).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import TYPE_CHECKING

from mburoja.config import LimitSettings
from mburoja.errors import InputFormatError
from mburoja.feeds.formats import common
from mburoja.feeds.formats.common import Item
from mburoja.ingest.ioc_list import Converter
from mburoja.stix.model import Reject

if TYPE_CHECKING:
    from mburoja.feeds.catalogue import FeedSpec, FormatOptions

Column = int | str | None


def read(
    data: bytes, origin: str, spec: FeedSpec, now: str, limits: LimitSettings
) -> Iterator[Item]:
    """The objects of a CSV feed read with the feed's own options."""
    return rows(data, origin, spec, now, spec.options)


def rows(
    data: bytes, origin: str, spec: FeedSpec, now: str, options: FormatOptions
) -> Iterator[Item]:
    """The objects of a CSV document read with ``options`` (see the module docstring)."""
    conv = common.converter(spec, origin, now)
    header: list[str] | None = None
    for line in common.text_lines(data, origin):
        if isinstance(line, Reject):
            yield line
            continue
        number, text, raw = line
        if text.startswith(options.comment_prefixes):
            continue
        try:
            cells = next(
                csv.reader([text], delimiter=options.delimiter, skipinitialspace=True, strict=True)
            )
        except csv.Error as exc:
            yield common.reject(origin, number, "line", f"not a CSV row: {exc}", raw)
            continue
        if options.header and header is None:
            header = [cell.strip().lower() for cell in cells]
            continue
        yield from _row(conv, spec, options, header, number, raw, cells)


def _index(column: Column, header: list[str] | None, origin: str) -> int | None:
    if column is None or isinstance(column, int):
        return column
    if header is None:
        raise InputFormatError(
            f"{origin}: column {column!r} is a name but the feed has no header row "
            "(set options.header = true or give a 0-based index)"
        )
    wanted = column.strip().lower()
    if wanted not in header:
        raise InputFormatError(f"{origin}: CSV has no column {column!r} (header: {header})")
    return header.index(wanted)


def _row(
    conv: Converter,
    spec: FeedSpec,
    options: FormatOptions,
    header: list[str] | None,
    number: int,
    raw: bytes,
    cells: list[str],
) -> Iterator[Item]:
    origin = conv.origin
    wanted = {
        "value": _index(options.column, header, origin),
        "first_seen": _index(options.first_seen_column, header, origin),
        "tags": _index(options.tags_column, header, origin),
        "confidence": _index(options.confidence_column, header, origin),
    }
    value_at = wanted["value"]
    if value_at is None:
        raise InputFormatError(f"{origin}: the csv format needs options.column")
    for field, at in wanted.items():
        if at is not None and at >= len(cells):
            reason = f"row has {len(cells)} cells, no {field} column {at} (0-based)"
            yield common.reject(origin, number, field, reason, raw)
            return
    value = cells[value_at]
    if not value.strip():
        yield common.reject(origin, number, "value", f"column {value_at} is empty", raw)
        return
    valid_from = confidence = None
    seen_at, confidence_at = wanted["first_seen"], wanted["confidence"]
    try:
        if seen_at is not None and cells[seen_at].strip():
            valid_from = common.feed_time(cells[seen_at])
    except ValueError as exc:
        yield common.reject(origin, number, "first_seen", str(exc), raw)
        return
    try:
        if confidence_at is not None and cells[confidence_at].strip():
            confidence = common.confidence_of(cells[confidence_at].strip())
    except ValueError as exc:
        yield common.reject(origin, number, "confidence", str(exc), raw)
        return
    tags_at = wanted["tags"]
    labels = common.tags(cells[tags_at], options.tags_separator) if tags_at is not None else []
    extra = common.extra_for(spec, valid_from=valid_from, labels=labels, confidence=confidence)
    yield from common.value_items(conv, value, number, raw, extra)
