"""``mburoja disinfo analyse``: the stored articles and posts through every detector, and what
they find stored as STIX findings (campaign, report, DISARM ``uses``; see
:mod:`mburoja.disinfo.findings`).

The stages, in order, each logged with its counts and rate:

1. the articles and posts of ``disinfo.collection`` (optionally only those published since a
   time) are read back as :class:`Document`\\ s; those without a language get one
   (:mod:`mburoja.disinfo.lang`);
2. copy-paste networks and cross-language copies (:mod:`mburoja.disinfo.copies`); a network
   counts when its copies are at ``disinfo.min_outlets`` outlets or more (an outlet
   republishing itself is not a network);
3. coordinated sharing among the posts (:mod:`mburoja.disinfo.coordination`);
4. known narratives (:mod:`mburoja.disinfo.narratives`), with the lexical matcher and the
   calibrated threshold the library carries;
5. newly appeared news sites: an outlet whose first article here is younger than
   ``disinfo.new_site_days`` *and* that took part in something above (a copy network, a
   cross-language copy or a narrative match) — a new outlet alone is not a finding.

Every finding is tagged with its kind's DISARM techniques, which must have been loaded
(``mburoja disinfo disarm load DISARM.json``); it is stored in the ``disinfo-findings``
collection at ``disinfo.findings_tlp``. Running the analysis again updates the same
findings (new versions) instead of adding copies.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Final

import msgspec

from mburoja.config import Settings
from mburoja.disinfo import coordination, copies, lang
from mburoja.disinfo.disarm import Catalogue
from mburoja.disinfo.findings import Account, Finding, publish
from mburoja.disinfo.model import ARTICLE, POST, Document
from mburoja.disinfo.narratives import (
    Narrative,
    NarrativeMatch,
    list_narratives,
    match_narratives,
)
from mburoja.disinfo.objects import ARTICLE_TYPE, POST_TYPE, documents_of
from mburoja.disinfo.stored import stored_objects
from mburoja.errors import InputFormatError, NotFound
from mburoja.store.sql import SqlStore

log = logging.getLogger(__name__)

_EVIDENCE_LINES: Final = 50
#: confidence (0-100) of a finding by how it was found
_CONFIDENCE: Final = {"near-verbatim": 85, "rewrite": 65}

Progress = Callable[[str], None]


class Analysis(msgspec.Struct, kw_only=True):
    """What one analysis read, found and stored."""

    documents: int = 0
    articles: int = 0
    posts: int = 0
    languages: dict[str, int] = msgspec.field(default_factory=dict)
    copies: copies.CopyReport | None = None
    coordination: coordination.CoordinationResult | None = None
    narratives: list[NarrativeMatch] = msgspec.field(default_factory=list)
    new_sites: list[str] = msgspec.field(default_factory=list)
    findings: list[Finding] = msgspec.field(default_factory=list)
    #: the ingest of the findings: new, new versions, unchanged objects
    stored: dict[str, int] = msgspec.field(default_factory=dict)
    #: seconds per stage
    seconds: dict[str, float] = msgspec.field(default_factory=dict)


#: an RFC 3339 ``date-time`` (§5.6): any case for ``T`` and ``Z``, a fraction of any length,
#: a numeric offset or ``Z``; the seconds may be a leap second ``60``
_RFC3339: Final = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt]([0-9]{2}:[0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def parse_since(value: str | None) -> float | None:
    """A ``--since``/``since`` time (an RFC 3339 date-time, such as a STIX timestamp) as epoch
    seconds. A leap second counts as the last instant of its minute."""
    if value is None:
        return None
    found = _RFC3339.fullmatch(value.strip())
    try:
        if found is None:
            raise ValueError(value)
        day, minute, second, fraction, offset = found.groups()
        leap = second == "60"
        fraction = ".999999" if leap else (fraction or "")[:7]
        zone = "+00:00" if offset in ("Z", "z") else offset
        moment = datetime.fromisoformat(
            f"{day}T{minute}:{'59' if leap else second}{fraction}{zone}"
        )
    except ValueError:
        raise InputFormatError(
            f"since {value!r} is not a time: write one like 2026-11-01T00:00:00Z"
        ) from None
    return moment.timestamp()


def load_documents(
    store: SqlStore, settings: Settings, *, since: float | None = None
) -> list[Document]:
    """The stored articles and posts (published at or after ``since``), with languages."""
    try:
        cid = store.collection(settings.disinfo.collection)[0]
    except NotFound:
        return []  # nothing fetched or imported yet
    docs = documents_of(stored_objects(store, cid, ARTICLE_TYPE, POST_TYPE))
    if since is not None:
        docs = [d for d in docs if d.published is not None and d.published >= since]
    return with_languages(docs)


def with_languages(docs: list[Document]) -> list[Document]:
    """``docs``, those without a language given one by ``lang.identify_many`` (in place)."""
    unknown = [i for i, d in enumerate(docs) if d.lang is None]
    if unknown:
        found = lang.identify_many([docs[i].text or docs[i].title for i in unknown])
        for i, code in zip(unknown, found, strict=True):
            if code is not None:
                docs[i] = msgspec.structs.replace(docs[i], lang=code)
    return docs


def analyse(
    store: SqlStore,
    settings: Settings,
    *,
    since: float | None = None,
    now: float | None = None,
    publish_findings: bool = True,
    progress: Progress | None = None,
) -> Analysis:
    """Run every detector over the stored documents and store what they find."""
    say = progress or log.info
    now = time.time() if now is None else now
    result = Analysis()
    started = time.perf_counter()
    docs = load_documents(store, settings, since=since)
    _timed(result, "read", started, len(docs), say, "documents read")
    result.documents = len(docs)
    result.articles = sum(1 for d in docs if d.kind == ARTICLE)
    result.posts = sum(1 for d in docs if d.kind == POST)
    result.languages = dict(Counter(d.lang or "unknown" for d in docs).most_common())
    if not docs:
        return result
    conf = settings.disinfo
    by_id = {d.id: d for d in docs}

    started = time.perf_counter()
    result.copies = copies.analyse(docs)
    _timed(result, "copies", started, len(docs), say, f"{len(result.copies.clusters)} clusters")

    started = time.perf_counter()
    posts = [d for d in docs if d.kind == POST]
    result.coordination = coordination.detect_coordination(
        posts,
        interval=conf.coordination_interval_s or None,
        min_weight=conf.coordination_min_weight,
        text=conf.coordination_text,
    )
    networks = len(result.coordination.components)
    _timed(result, "coordination", started, len(posts), say, f"{networks} networks")

    started = time.perf_counter()
    library = {n.id: n for n in list_narratives(store)}
    if library:
        # each near-duplicate cluster's lead is embedded once, the patient zero's
        represent = {
            m.id: cluster.patient_zero
            for cluster in result.copies.clusters
            for m in cluster.members
        }
        found = match_narratives(docs, list(library.values()), clusters=represent)
        result.narratives = [m for m in found if m.rank == 1]
    _timed(result, "narratives", started, len(docs), say, f"{len(result.narratives)} matches")

    findings = copy_findings(result.copies, by_id, conf.min_outlets)
    findings += _coordination_findings(result.coordination)
    findings += _narrative_findings(result.narratives, by_id, library)
    sites = _new_sites(docs, findings, now - conf.new_site_days * 86400.0)
    result.new_sites = sorted(sites)
    findings += [_site_finding(site, members, by_id) for site, members in sorted(sites.items())]
    result.findings = findings
    if publish_findings and findings:
        started = time.perf_counter()
        catalogue = Catalogue.required(store)
        published = publish(store, settings, findings, catalogue=catalogue, tlp=conf.findings_tlp)
        report = published.report
        result.stored = {
            "new": report.new,
            "new_versions": report.new_versions,
            "unchanged": report.unchanged,
            "rejected": report.rejected,
        }
        _timed(result, "publish", started, len(findings), say, "findings stored")
    return result


def _timed(
    result: Analysis, stage: str, started: float, count: int, say: Progress, what: str
) -> None:
    seconds = time.perf_counter() - started
    result.seconds[stage] = round(seconds, 3)
    rate = count / seconds if seconds > 0 else 0.0
    say(f"{stage}: {count:,} in {seconds:.2f} s ({rate:,.0f}/s), {what}")


# -- detector results as findings ----------------------------------------------------------


def _span(docs: Sequence[Document]) -> tuple[float | None, float | None]:
    times = [d.published for d in docs if d.published is not None]
    return (min(times), max(times)) if times else (None, None)


def _urls(docs: Sequence[Document]) -> tuple[str, ...]:
    return tuple(sorted({d.url for d in docs if d.url}))


def copy_findings(
    report: copies.CopyReport, by_id: dict[str, Document], min_outlets: int
) -> list[Finding]:
    """One finding per copy cluster reaching ``min_outlets`` outlets, keyed by its patient
    zero (the web view shares single clusters through this, so both make the same objects)."""
    out: list[Finding] = []
    for cluster in report.clusters:
        if len(cluster.outlets) < min_outlets:
            continue
        members = [by_id[m.id] for m in cluster.members]
        first, last = _span(members)
        zero = by_id[cluster.patient_zero]
        evidence = [
            f"{s.source} first published a copy ({s.id}) at {_when(s.published)}"
            for s in cluster.timeline
        ]
        evidence += [f"{link.a} ~ {link.b}: Jaccard {link.jaccard:.2f}" for link in cluster.links]
        out.append(
            Finding(
                kind="copies",
                key=cluster.patient_zero,
                title=f"Copy-paste network: {len(members)} copies at "
                f"{len(cluster.outlets)} outlets of {zero.title or zero.id!r}",
                description=f"First published by {cluster.first_source} ({cluster.level} "
                f"copies); outlets: {', '.join(cluster.outlets)}.",
                members=tuple(d.id for d in members),
                urls=_urls(members),
                first_seen=first,
                last_seen=last,
                evidence=tuple(evidence[:_EVIDENCE_LINES]),
                confidence=_CONFIDENCE.get(cluster.level, 60),
            )
        )
    for copy in report.cross_language:
        pair = [by_id[copy.source], by_id[copy.copy]]
        first, last = _span(pair)
        out.append(
            Finding(
                kind="cross-language",
                key=f"{copy.source}|{copy.copy}",
                title=f"Cross-language copy ({copy.source_lang} to {copy.copy_lang}) of "
                f"{pair[0].title or copy.source!r}",
                description=f"Found by {copy.method}, score {copy.score:.2f}, "
                f"{copy.lag_s / 3600:.1f} h later.",
                members=(copy.source, copy.copy),
                urls=_urls(pair),
                first_seen=first,
                last_seen=last,
                evidence=tuple(f"shared: {s}" for s in copy.shared[:_EVIDENCE_LINES]),
                confidence=60,
            )
        )
    return out


def _coordination_findings(result: coordination.CoordinationResult) -> list[Finding]:
    out: list[Finding] = []
    for network in result.components:
        accounts = tuple(Account(user_id=m.account, display_name=m.name) for m in network.members)
        interval = f"{result.interval:.1f} s" if result.interval is not None else "set by hand"
        out.append(
            Finding(
                kind="coordination",
                key=network.id,
                title=f"Coordinated sharing by {len(accounts)} accounts",
                description=f"Accounts that shared the same links or texts within the "
                f"coordination interval ({interval}) again and again.",
                members=network.posts,
                accounts=accounts,
                urls=network.urls,
                first_seen=network.first_seen,
                last_seen=network.last_seen,
                evidence=tuple(network.evidence_lines()[:_EVIDENCE_LINES]),
                confidence=70,
            )
        )
    return out


def _narrative_findings(
    matches: Sequence[NarrativeMatch], by_id: dict[str, Document], library: dict[str, Narrative]
) -> list[Finding]:
    grouped: dict[str, list[NarrativeMatch]] = defaultdict(list)
    for match in matches:
        grouped[match.narrative].append(match)
    out: list[Finding] = []
    for narrative_id, found in sorted(grouped.items()):
        docs = [by_id[m.document] for m in found]
        first, last = _span(docs)
        out.append(
            Finding(
                kind="narrative",
                key=narrative_id,
                title=f"Known narrative: {found[0].title}",
                description=f"{len(docs)} articles and posts carry the narrative "
                f"{found[0].title!r} ({narrative_id}).",
                members=tuple(d.id for d in docs),
                urls=_urls(docs),
                first_seen=first,
                last_seen=last,
                evidence=tuple(
                    f"{m.document}: similarity {_best(m):.2f} to the {m.evidence.lang} example "
                    f"{m.evidence.example[:120]!r}; shared terms: {', '.join(m.evidence.terms)}"
                    for m in found
                )[:_EVIDENCE_LINES],
                disarm=library[narrative_id].techniques,
                about=(narrative_id,),
                confidence=min(100, max(int(_best(m) * 100) for m in found)),
            )
        )
    return out


def _best(match: NarrativeMatch) -> float:
    return max(match.similarity.values(), default=0.0)


def _new_sites(
    docs: Sequence[Document], findings: Sequence[Finding], since: float
) -> dict[str, list[str]]:
    """Outlets first seen after ``since`` that took part in a finding, with their documents
    in findings."""
    first: dict[str, float] = {}
    for doc in docs:
        if doc.kind == ARTICLE and doc.published is not None:
            first[doc.source] = min(first.get(doc.source, doc.published), doc.published)
    source_of = {d.id: d.source for d in docs if d.kind == ARTICLE}
    sites: dict[str, list[str]] = defaultdict(list)
    for finding in findings:
        if finding.kind == "coordination":
            continue
        for member in finding.members:
            site = source_of.get(member)
            if site is not None and first.get(site, 0.0) >= since:
                sites[site].append(member)
    return {site: sorted(set(members)) for site, members in sites.items()}


def _site_finding(site: str, members: list[str], by_id: dict[str, Document]) -> Finding:
    docs = [by_id[m] for m in members]
    first, last = _span(docs)
    return Finding(
        kind="new-site",
        key=site,
        title=f"Newly appeared news site {site}",
        description=f"{site} was first seen here at {_when(first)} and already carries "
        "copied content or a known narrative.",
        members=tuple(members),
        urls=_urls(docs),
        domains=(site,),
        first_seen=first,
        last_seen=last,
        evidence=tuple(f"{d.id}: {d.title or d.url}" for d in docs)[:_EVIDENCE_LINES],
        confidence=50,
    )


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "an unknown time"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
