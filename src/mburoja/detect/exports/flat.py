"""Listings for tools that take neither a sensor format nor a TAXII feed: CSV and a STIX
2.1 bundle.

CSV has one row per (value, indicator), columns :data:`CSV_COLUMNS`, quoted by the
:mod:`csv` module, under ``#`` comment lines (the header; read it with a reader that skips
comments). Like the blocklists, it lists only simple indicators: a row's value alone is a
match.

The STIX bundle is the full export: every active indicator the requester may see, exactly
as stored and as the policy lets the requester see it (``raw`` maps indicator ids to those
bytes, written without re-serialising). Complex indicators are included (a pattern loses
nothing in STIX), and so are those no match key could be compiled from (another
``pattern_type``, only ``LIKE``/``MATCHES``, a field telemetry does not carry): a STIX
consumer may still use them, while the other formats, which carry keys, cannot. JSON has no
comments, so the header is the bundle's ``x_mburoja_export`` property, whose ``included``
counts the indicators by what they are and ``skipped`` those left out, by reason. The
bundle is streamed: its opening, then one object per line.
"""

from __future__ import annotations

import csv
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Final, TextIO

import orjson

from mburoja import __version__
from mburoja.detect.compile import KEY_KINDS, Compiled, NotCompiled, reasons_count
from mburoja.detect.exports.selection import (
    ExportOptions,
    ExportReport,
    Refused,
    Render,
    header,
    indicator_level,
    policy_for,
    select,
)
from mburoja.stix.markings import TLP_ORDER

CSV_COLUMNS: Final = ("indicator_id", "kind", "value", "name", "tlp", "valid_until", "pattern")
#: Names the bundle id, so that the same export gives the same id.
_BUNDLE_NAMESPACE: Final = uuid.UUID("0b3c8d1e-7f4a-4e59-9d7b-2a6c5e8f1d34")
NO_RAW: Final = "stored object not readable"
#: What the STIX export says of the indicators it includes.
SIMPLE: Final = "with a simple pattern"
COMPLEX_INCLUDED: Final = "with a complex pattern"
NOT_COMPILED: Final = "not compiled"


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
    not_compiled: Iterable[NotCompiled] = (),
) -> ExportReport:
    """Write a STIX 2.1 bundle to ``out``: every one of ``indicators`` and of
    ``not_compiled`` (active indicators whose pattern gave no match key), each object being
    its stored bytes from ``raw``; one missing there is left out and counted, and so are
    the indicators ``options.not_compiled`` counts that ``not_compiled`` does not hold."""
    policy = policy_for(options)
    included: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    levels: dict[str, str] = {}
    for indicator in indicators:
        if indicator.id not in raw:
            skipped[NO_RAW] += 1
        elif indicator.id not in levels:
            levels[indicator.id] = policy.level(indicator.markings)
            included[SIMPLE if indicator.simple else COMPLEX_INCLUDED] += 1
    supplied = list(not_compiled)
    kept: list[NotCompiled] = []
    for reject in supplied:
        if reject.id not in raw:
            skipped[NO_RAW] += 1
        elif reject.id not in levels:
            levels[reject.id] = policy.level(_marking_refs(raw[reject.id]))
            kept.append(reject)
    for reason, n in reasons_count(kept).items():
        included[f"{NOT_COMPILED}: {reason}"] += n
    skipped.update(options.warning_listed)
    skipped.update(options.decayed)
    given = reasons_count(supplied)
    for reason, n in options.not_compiled.items():
        if n > given.get(reason, 0):
            skipped[f"{NOT_COMPILED}: {reason}"] += n - given.get(reason, 0)
    ids = sorted(levels)
    report = ExportReport(format="stix", generated=options.generated, requester=options.requester)
    report.indicators = len(ids)
    report.tlp = max(levels.values(), key=TLP_ORDER.index, default="clear")
    report.entries = {"indicator": len(ids)} if ids else {}
    report.included = _by_count(included)
    report.skipped = _by_count(skipped)
    report.notes += [
        "complex indicators are included: STIX expresses their patterns whole",
        "indicators no match key could be compiled from are included: the other formats "
        "leave them out",
    ]
    digest = uuid.uuid5(_BUNDLE_NAMESPACE, "\n".join([options.generated, options.requester, *ids]))
    export = {
        "generator": f"mburoja {__version__}",
        "generated": report.generated,
        "requester": report.requester,
        "tlp": report.tlp,
        "indicators": report.indicators,
        "included": report.included,
        "skipped": report.skipped,
        "notes": report.notes,
    }
    out.write('{"type":"bundle","id":"bundle--' + str(digest) + '",')
    out.write('"x_mburoja_export":' + orjson.dumps(export).decode() + ',"objects":[')
    for i, object_id in enumerate(ids):
        out.write(("\n" if i == 0 else ",\n") + raw[object_id].decode("utf-8"))
    out.write("\n]}\n")
    return report


def _by_count(counts: Counter[str]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _marking_refs(raw: bytes) -> tuple[str, ...]:
    """The object markings of a stored object (what the policy tells its level from)."""
    refs = orjson.loads(raw).get("object_marking_refs")
    return tuple(r for r in refs if isinstance(r, str)) if isinstance(refs, list) else ()
