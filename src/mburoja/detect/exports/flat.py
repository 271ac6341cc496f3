"""Listings for tools that take neither a sensor format nor a TAXII feed: CSV and a STIX
2.1 bundle.

CSV has one row per (value, indicator), columns :data:`CSV_COLUMNS`, quoted by the
:mod:`csv` module, under ``#`` comment lines (the header; read it with a reader that skips
comments). Like the blocklists, it lists only simple indicators: a row's value alone is a
match.

The STIX bundle carries every active indicator the requester may see, complex ones
included (a pattern loses nothing in STIX), exactly as stored and as the policy lets the
requester see it: ``raw`` maps indicator ids to those bytes, written without
re-serialising. JSON has no comments, so the header is the bundle's
``x_mburoja_export`` property. The bundle is streamed: its opening, then one object per
line.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterable, Mapping
from typing import Final, TextIO

import orjson

from mburoja import __version__
from mburoja.detect.compile import KEY_KINDS, Compiled
from mburoja.detect.exports.selection import (
    ExportOptions,
    ExportReport,
    Refused,
    Render,
    header,
    indicator_level,
    select,
)

CSV_COLUMNS: Final = ("indicator_id", "kind", "value", "name", "tlp", "valid_until", "pattern")
#: Names the bundle id, so that the same export gives the same id.
_BUNDLE_NAMESPACE: Final = uuid.UUID("0b3c8d1e-7f4a-4e59-9d7b-2a6c5e8f1d34")
NO_RAW: Final = "stored object not readable"


def _same(value: str) -> str | Refused:
    return value


ALL_KINDS: Final[dict[str, Render]] = {kind: _same for kind in KEY_KINDS}


def write_csv(indicators: Iterable[Compiled], out: TextIO, options: ExportOptions) -> ExportReport:
    """Write the CSV listing of ``indicators`` to ``out``."""
    selection = select(indicators, "csv", ALL_KINDS, options)
    report = selection.report
    report.entries = selection.count_lines()
    level = indicator_level(options)
    out.write(header(report))
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for entry in selection.entries:
        indicator = selection.indicators[entry.indicator_id]
        writer.writerow(
            (
                indicator.id,
                entry.kind,
                entry.value,
                indicator.name,
                level(indicator),
                indicator.valid_until or "",
                indicator.pattern,
            )
        )
    return report


def write_stix(
    indicators: Iterable[Compiled],
    out: TextIO,
    options: ExportOptions,
    *,
    raw: Mapping[str, bytes],
) -> ExportReport:
    """Write a STIX 2.1 bundle of ``indicators`` to ``out``, each object being its stored
    bytes from ``raw`` (an indicator missing there is skipped and counted)."""
    kept: list[Compiled] = []
    missing = 0
    for indicator in indicators:
        if indicator.id in raw:
            kept.append(indicator)
        else:
            missing += 1
    selection = select(kept, "stix", ALL_KINDS, options, simple_only=False)
    report = selection.report
    if missing:
        report.skipped[NO_RAW] = missing
    ids = sorted(selection.indicators)
    report.entries = {"indicator": len(ids)} if ids else {}
    report.notes.append("complex indicators are included: STIX expresses their patterns whole")
    digest = uuid.uuid5(_BUNDLE_NAMESPACE, "\n".join([options.generated, options.requester, *ids]))
    export = {
        "generator": f"mburoja {__version__}",
        "generated": report.generated,
        "requester": report.requester,
        "tlp": report.tlp,
        "indicators": report.indicators,
        "skipped": report.skipped,
        "notes": report.notes,
    }
    out.write('{"type":"bundle","id":"bundle--' + str(digest) + '",')
    out.write('"x_mburoja_export":' + orjson.dumps(export).decode() + ',"objects":[')
    for i, object_id in enumerate(ids):
        out.write(("\n" if i == 0 else ",\n") + raw[object_id].decode("utf-8"))
    out.write("\n]}\n")
    return report
