"""Evaluate DISARM technique suggestion on DISARM's own incident write-ups.

Usage: python scripts/eval_disarm.py [--incidents DIR] [--bundle DISARM.json] [--limit N]
                                      [--draws 20] [--seed 0] [--json]

Each incident page in ``disarm/incidents/`` may carry a table whose rows map a technique to
"the description given for this incident": a quotation of the source, then the analyst's
commentary, which usually names the technique and so gives the answer away. Only the quoted
source text is used:

- the italic spans of the cell (``<i>…</i>``; the pages sometimes close one with a second
  ``<i>``, which is read as a close), and markdown italics that open on a quotation mark
  (``_"…"_``); the text outside them is commentary and is dropped;
- inside a span, a paragraph (split at ``<br>``) that names a technique id (``T0nnn``) is an
  inline annotation and is dropped whole.

Rows of one incident that quote the same text are one *passage*, whose answer is the set of
their techniques. The suggester ranks every DISARM technique for each passage:
P@1 is the share of passages whose first suggestion is in the answer; Recall@10 the mean
share of a passage's answer found in its first ten. The random baseline ranks the same
candidate set in a seeded random order, averaged over ``--draws`` draws.
"""

from __future__ import annotations

import argparse
import html
import random
import re
import statistics
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from mburoja.disinfo.disarm import Catalogue, Suggester

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "disarm"

_ROW = re.compile(r"^\|\s*\[(T\d{4}(?:\.\d{3})?)\s[^\]]*\]\([^)]*\)\s*\|(.*)\|\s*$")
_ITALIC_TAG = re.compile(r"</?i>", re.IGNORECASE)
_MD_ITALIC = re.compile(r"(?<!\w)_([\"“”].*?)_(?!\w)", re.DOTALL)
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
_ELLIPSIS = re.compile(r"\[(?:\.\.\.|…)\]")
_TECHNIQUE_ID = re.compile(r"\bT0\d{3}")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Passage:
    incident: str
    text: str
    techniques: frozenset[str]


@dataclass
class Parsed:
    files: int = 0
    #: incident pages with at least one technique row
    with_tables: int = 0
    rows: int = 0
    rows_without_quote: int = 0
    annotated_paragraphs_dropped: int = 0
    passages: list[Passage] = field(default_factory=list)


def quoted_spans(cell: str) -> list[str]:
    """The italic spans of a table cell: the quotations, not the commentary around them."""
    parts = _ITALIC_TAG.split(cell)
    spans = parts[1::2]  # a tag, open or close, toggles italics
    for outside in parts[0::2]:
        spans.extend(_MD_ITALIC.findall(outside))
    return spans


def clean(span: str, parsed: Parsed) -> str:
    """A span as plain text, without paragraphs that name a technique id."""
    kept = []
    for paragraph in _BREAK.split(span):
        text = html.unescape(_TAG.sub(" ", paragraph))
        text = _SPACE.sub(" ", _ELLIPSIS.sub(" ", text)).strip(' "“”')
        if not text:
            continue
        if _TECHNIQUE_ID.search(text):
            parsed.annotated_paragraphs_dropped += 1
            continue
        kept.append(text)
    return "\n".join(kept)


def parse_incidents(directory: Path, limit: int | None = None) -> Parsed:
    """Every passage of the incident pages in ``directory`` (only the first ``limit`` pages
    that have a technique table, when given)."""
    parsed = Parsed()
    for path in sorted(directory.glob("*.md")):
        parsed.files += 1
        by_text: dict[str, set[str]] = {}
        rows = 0
        for line in path.read_text(encoding="utf-8").splitlines():
            match = _ROW.match(line)
            if match is None:
                continue
            rows += 1
            technique, cell = match.groups()
            spans = [t for t in (clean(s, parsed) for s in quoted_spans(cell)) if t]
            if not spans:
                parsed.rows_without_quote += 1
                continue
            by_text.setdefault("\n".join(spans), set()).add(technique)
        if rows:
            parsed.with_tables += 1
            parsed.rows += rows
            parsed.passages += [Passage(path.stem, t, frozenset(g)) for t, g in by_text.items()]
            if limit is not None and parsed.with_tables >= limit:
                break
    return parsed


Ranker = Callable[[str], Sequence[str]]


def score(rank: Ranker, passages: Sequence[Passage]) -> tuple[float, float]:
    """(P@1, Recall@10) of a ranker over ``passages``."""
    hits = recall = 0.0
    for p in passages:
        ranked = list(rank(p.text))
        hits += bool(ranked) and ranked[0] in p.techniques
        recall += len(set(ranked[:10]) & p.techniques) / len(p.techniques)
    n = len(passages)
    return hits / n, recall / n


def random_baseline(
    candidates: Sequence[str], passages: Sequence[Passage], draws: int, seed: int
) -> tuple[float, float]:
    rng = random.Random(seed)
    results = [
        score(lambda _text: rng.sample(list(candidates), 10), passages) for _ in range(draws)
    ]
    return statistics.fmean(r[0] for r in results), statistics.fmean(r[1] for r in results)


def frequency_prior(passages: Sequence[Passage]) -> tuple[float, float]:
    """(P@1, Recall@10) of always suggesting the techniques most often in the answers of the
    *other* incidents (leave one incident out): a stronger reference than random."""
    by_incident: dict[str, Counter[str]] = {}
    for p in passages:
        by_incident.setdefault(p.incident, Counter()).update(p.techniques)
    total: Counter[str] = Counter()
    for counts in by_incident.values():
        total.update(counts)

    def rank(p: Passage) -> list[str]:
        counts = total - by_incident[p.incident]
        return [t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]]

    hits = recall = 0.0
    for p in passages:
        ranked = rank(p)
        hits += bool(ranked) and ranked[0] in p.techniques
        recall += len(set(ranked) & p.techniques) / len(p.techniques)
    return hits / len(passages), recall / len(passages)


@dataclass
class Evaluation:
    parsed: Parsed
    candidates: int
    passages: int
    incidents: int
    unknown_techniques: int
    precision_at_1: float
    recall_at_10: float
    random_precision_at_1: float
    random_recall_at_10: float
    #: what a random order gives on average, exactly: mean |answer| / |candidates|, and
    #: 10 / |candidates|
    expected_random_precision_at_1: float
    expected_random_recall_at_10: float
    prior_precision_at_1: float
    prior_recall_at_10: float
    draws: int
    seed: int

    def figures(self) -> dict[str, float | int]:
        return {
            "incident_files": self.parsed.files,
            "incidents_with_tables": self.parsed.with_tables,
            "rows": self.parsed.rows,
            "rows_without_quote": self.parsed.rows_without_quote,
            "annotated_paragraphs_dropped": self.parsed.annotated_paragraphs_dropped,
            "passages": self.passages,
            "incidents": self.incidents,
            "candidates": self.candidates,
            "unknown_techniques": self.unknown_techniques,
            "precision_at_1": round(self.precision_at_1, 3),
            "recall_at_10": round(self.recall_at_10, 3),
            "random_precision_at_1": round(self.random_precision_at_1, 3),
            "random_recall_at_10": round(self.random_recall_at_10, 3),
            "expected_random_precision_at_1": round(self.expected_random_precision_at_1, 3),
            "expected_random_recall_at_10": round(self.expected_random_recall_at_10, 3),
            "prior_precision_at_1": round(self.prior_precision_at_1, 3),
            "prior_recall_at_10": round(self.prior_recall_at_10, 3),
            "draws": self.draws,
            "seed": self.seed,
        }


def evaluate(
    incidents: Path, bundle: Path, *, limit: int | None = None, draws: int = 20, seed: int = 0
) -> Evaluation:
    catalogue = Catalogue.from_bundle(bundle.read_bytes())
    suggester = Suggester(catalogue)
    parsed = parse_incidents(incidents, limit)
    known = set(t.disarm_id for t in catalogue)
    passages: list[Passage] = []
    unknown = 0
    for p in parsed.passages:
        unknown += len(p.techniques - known)
        if p.techniques & known:
            passages.append(Passage(p.incident, p.text, p.techniques & known))
    if not passages:
        raise SystemExit(f"{incidents}: no passage with a known technique to score")
    p1, r10 = score(lambda text: [s.disarm_id for s in suggester.rank(text, 10)], passages)
    rp1, rr10 = random_baseline(sorted(known), passages, draws, seed)
    fp1, fr10 = frequency_prior(passages)
    return Evaluation(
        parsed=parsed,
        candidates=len(known),
        passages=len(passages),
        incidents=len({p.incident for p in passages}),
        unknown_techniques=unknown,
        precision_at_1=p1,
        recall_at_10=r10,
        random_precision_at_1=rp1,
        random_recall_at_10=rr10,
        expected_random_precision_at_1=statistics.fmean(len(p.techniques) for p in passages)
        / len(known),
        expected_random_recall_at_10=min(10 / len(known), 1.0),
        prior_precision_at_1=fp1,
        prior_recall_at_10=fr10,
        draws=draws,
        seed=seed,
    )


def report(e: Evaluation) -> str:
    f = e.figures()
    lift = e.precision_at_1 / e.expected_random_precision_at_1
    return "\n".join(
        [
            "DISARM technique suggestion, scored on quoted source text only",
            f"incident pages: {f['incident_files']}, with technique tables: "
            f"{f['incidents_with_tables']} ({f['rows']} rows, {f['rows_without_quote']} "
            f"without quoted text, {f['annotated_paragraphs_dropped']} annotated paragraphs "
            "dropped)",
            f"passages: {f['passages']} from {f['incidents']} incidents; candidates: "
            f"{f['candidates']} techniques ({f['unknown_techniques']} answers not in the bundle)",
            f"{'':<28}{'P@1':>8}{'Recall@10':>12}",
            f"{'suggester':<28}{f['precision_at_1']:>8.3f}{f['recall_at_10']:>12.3f}",
            f"{f'random ({e.draws} draws, seed {e.seed})':<28}"
            f"{f['random_precision_at_1']:>8.3f}{f['random_recall_at_10']:>12.3f}",
            f"{'random (expected)':<28}{f['expected_random_precision_at_1']:>8.3f}"
            f"{f['expected_random_recall_at_10']:>12.3f}",
            f"{'prior (other incidents)':<28}{f['prior_precision_at_1']:>8.3f}"
            f"{f['prior_recall_at_10']:>12.3f}",
            f"P@1 lift over random: x{lift:.0f}",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=Path, default=DATA / "incidents")
    parser.add_argument("--bundle", type=Path, default=DATA / "DISARM.json")
    parser.add_argument("--limit", type=int, default=None, help="first N incidents with tables")
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    e = evaluate(args.incidents, args.bundle, limit=args.limit, draws=args.draws, seed=args.seed)
    print(orjson.dumps(e.figures()).decode() if args.json else report(e))
    return 0


if __name__ == "__main__":
    sys.exit(main())
