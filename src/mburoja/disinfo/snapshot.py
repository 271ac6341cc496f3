"""The detectors' current results over the stored articles and posts, for the pages and REST
endpoints that show them, and sharing one copy-paste cluster as a STIX finding.

**Why a snapshot.** ``disinfo analyse`` stores only its *findings* (campaigns, reports), not
the clusters and networks themselves, and those are what an analyst browses before deciding
what to share. Computing them is whole-corpus work: reading 44,000 generated documents took
2.1 s and the copy detector 2.9 s on 2 cores, far too slow for every page load. So
:class:`Snapshots` computes them once and keeps the result until the documents or the
narrative library change: a new article or post (or a new version of one) is a row added to
the collection after the keyset position the last read ended at, which one ``LIMIT 1`` query
sees; removals are not seen that way, so a snapshot is also recomputed after
:data:`MAX_AGE_S`. Reads past :data:`MAX_DOCUMENTS` keep the newest by publication time.

**Who may see what.** The documents are read as the home organisation sees them (through the
policy), not as the raw store: an article a partner sent at TLP:RED stays out of every
cluster a home analyst can open, so no count or node reveals it.

**A cluster's key** is its patient zero's STIX id (the earliest publication): derived from
the content, stable while copies are added, and the key ``disinfo analyse`` gives the same
cluster's finding, so sharing from a page and a later analysis update the same objects.
:func:`cluster_version` (a digest of the sorted member ids) tells whether a cluster changed
between showing it and sharing it.
"""

from __future__ import annotations

import hashlib
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import orjson

from mburoja.config import Settings
from mburoja.disinfo import analyse as analysis
from mburoja.disinfo import coordination, copies
from mburoja.disinfo.copies import CopyCluster, CopyReport
from mburoja.disinfo.disarm import Catalogue
from mburoja.disinfo.findings import DEFAULT_TLP, Published, publish
from mburoja.disinfo.model import POST, Document
from mburoja.disinfo.narratives import Narrative, NarrativeMatch, list_narratives, match_narratives
from mburoja.disinfo.objects import ARTICLE_TYPE, POST_TYPE, documents_of
from mburoja.errors import Conflict, InputFormatError, NotFound
from mburoja.policy import Caller, Policy, Relation
from mburoja.stix.markings import TLP2
from mburoja.store.sql import SqlStore
from mburoja.store.taxii import TaxiiQuery

#: the most documents one snapshot analyses (the newest by publication time)
MAX_DOCUMENTS: Final = 100_000
#: a snapshot older than this is recomputed even when no document was added
MAX_AGE_S: Final = 300.0
_TYPES: Final = (ARTICLE_TYPE, POST_TYPE)
_PAGE: Final = 1000


@dataclass(frozen=True)
class Snapshot:
    """What the detectors found in the documents the home organisation may see."""

    documents: dict[str, Document]
    copies: CopyReport
    coordination: coordination.CoordinationResult
    library: tuple[Narrative, ...]
    #: each document's best narrative match
    narratives: tuple[NarrativeMatch, ...]
    #: documents read, and analysed (at most MAX_DOCUMENTS)
    read: int
    #: seconds per stage, and when it was computed (epoch seconds)
    seconds: dict[str, float] = field(default_factory=dict)
    computed: float = 0.0

    def clusters(self, least: float) -> list[CopyCluster]:
        return clusters_of(self.copies, least)

    def cluster(self, key: str) -> CopyCluster:
        """The cluster whose patient zero is ``key``; NotFound otherwise."""
        for cluster in self.copies.clusters:
            if cluster.patient_zero == key:
                return cluster
        raise NotFound(
            f"no copy-paste cluster {key!r}: it may have changed since the list was shown"
        )


@dataclass
class _Held:
    snapshot: Snapshot
    collection: str | None
    position: tuple[str, int] | None
    library: tuple[tuple[str, str], ...]


def clusters_of(report: CopyReport, least: float) -> list[CopyCluster]:
    """The clusters with copies at ``least`` outlets or more (an outlet republishing itself
    is no network)."""
    return [c for c in report.clusters if len(c.outlets) >= least]


def networks_of(
    docs: Sequence[Document], settings: Settings, *, interval: float | None = None
) -> coordination.CoordinationResult:
    """Coordinated sharing among the posts of ``docs``, with the settings' parameters
    (``interval`` overrides ``disinfo.coordination_interval_s``; 0 or None estimates it)."""
    conf = settings.disinfo
    return coordination.detect_coordination(
        [d for d in docs if d.kind == POST],
        interval=interval or conf.coordination_interval_s or None,
        min_weight=conf.coordination_min_weight,
        text=conf.coordination_text,
    )


def cluster_version(cluster: CopyCluster) -> str:
    """A digest of the sorted member ids: changes whenever the membership does."""
    joined = "\n".join(sorted(m.id for m in cluster.members))
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


def home_caller(store: SqlStore, policy: Policy) -> Caller:
    """The home organisation itself, with no user's own identity: what every home account
    may see at least."""
    identity = store.home_identity()
    return Caller(
        org_id=policy.home_org,
        relation=Relation.SELF,
        identities=frozenset({identity}) if identity else frozenset(),
        user_name="disinfo",
    )


class Snapshots:
    """The current :class:`Snapshot` of one store, computed at most once per change."""

    def __init__(self, store: SqlStore, settings: Settings, policy: Policy) -> None:
        self.store, self.settings, self.policy = store, settings, policy
        self._lock = threading.Lock()
        self._held: _Held | None = None

    def current(self) -> Snapshot:
        with self._lock:
            held = self._held
            if held is None or not self._fresh(held):
                held = self._held = self._compute()
            return held.snapshot

    # -- reading ---------------------------------------------------------------------------

    def _collection(self) -> str | None:
        try:
            return self.store.collection(self.settings.disinfo.collection)[0]
        except NotFound:
            return None

    def _library(self, who: Caller) -> list[Narrative]:
        return list_narratives(self.store, policy=self.policy, caller=who)

    def _fresh(self, held: _Held) -> bool:
        if time.time() - held.snapshot.computed > MAX_AGE_S:
            return False
        cid = self._collection()
        if cid != held.collection:
            return False
        who = home_caller(self.store, self.policy)
        if tuple((n.id, n.modified) for n in self._library(who)) != held.library:
            return False
        if cid is None:
            return True
        rows, _ = self.store.taxii_rows(
            cid, TaxiiQuery(types=_TYPES), self.policy.prefilter(who), after=held.position, limit=1
        )
        return not rows

    def _read(self, cid: str, who: Caller) -> tuple[list[Document], tuple[str, int] | None]:
        objects = []
        after: tuple[str, int] | None = None
        query = TaxiiQuery(types=_TYPES)
        prefilter = self.policy.prefilter(who)
        while True:
            rows, more = self.store.taxii_rows(cid, query, prefilter, after=after, limit=_PAGE)
            views = self.policy.views(who, [(r.owner, r.markings, r.raw, r.inspect) for r in rows])
            objects += [orjson.loads(v) for v in views if v is not None]
            if rows:
                after = (rows[-1].date_added, rows[-1].seq)
            if not more or not rows:
                return documents_of(objects), after

    def _compute(self) -> _Held:
        who = home_caller(self.store, self.policy)
        seconds: dict[str, float] = {}
        started = time.perf_counter()
        cid = self._collection()
        docs, position = self._read(cid, who) if cid is not None else ([], None)
        read = len(docs)
        if read > MAX_DOCUMENTS:
            docs.sort(key=lambda d: (d.published or 0.0, d.id), reverse=True)
            docs = docs[:MAX_DOCUMENTS]
        docs = analysis.with_languages(docs)
        library = tuple(self._library(who))
        seconds["read"] = time.perf_counter() - started

        started = time.perf_counter()
        report = copies.analyse(docs)
        seconds["copies"] = time.perf_counter() - started
        started = time.perf_counter()
        networks = networks_of(docs, self.settings)
        seconds["coordination"] = time.perf_counter() - started
        started = time.perf_counter()
        matches: list[NarrativeMatch] = []
        if library and docs:
            represent = {m.id: c.patient_zero for c in report.clusters for m in c.members}
            found = match_narratives(docs, list(library), clusters=represent)
            matches = [m for m in found if m.rank == 1]
        seconds["narratives"] = time.perf_counter() - started
        snapshot = Snapshot(
            documents={d.id: d for d in docs},
            copies=report,
            coordination=networks,
            library=library,
            narratives=tuple(matches),
            read=read,
            seconds={k: round(v, 3) for k, v in seconds.items()},
            computed=time.time(),
        )
        versions = tuple((n.id, n.modified) for n in library)
        return _Held(snapshot, cid, position, versions)


_registry: weakref.WeakKeyDictionary[SqlStore, Snapshots] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


def snapshots(store: SqlStore, settings: Settings, policy: Policy) -> Snapshots:
    """The one :class:`Snapshots` of ``store`` (pages and endpoints share it)."""
    with _registry_lock:
        found = _registry.get(store)
        if found is None:
            found = _registry[store] = Snapshots(store, settings, policy)
        return found


# -- sharing a cluster ---------------------------------------------------------------------


def check_tlp(value: str) -> str:
    level = value.strip().lower()
    if level not in TLP2:
        raise InputFormatError(f"tlp: {value!r} is not one of {', '.join(TLP2)}")
    return level


def cluster_finding(snapshot: Snapshot, cluster: CopyCluster) -> analysis.Finding:
    """The finding ``disinfo analyse`` makes of ``cluster`` (the same title, evidence, key
    and so the same STIX ids)."""
    single = CopyReport(
        clusters=(cluster,), cross_language=(), documents=1, candidates=0, verified=0
    )
    return analysis.copy_findings(single, snapshot.documents, 1)[0]


def share_cluster(
    store: SqlStore,
    settings: Settings,
    snapshot: Snapshot,
    key: str,
    *,
    tlp: str = DEFAULT_TLP,
    version: str | None = None,
    actor: str = "disinfo",
) -> Published:
    """Store the cluster ``key`` as a STIX finding (campaign, report, note, DISARM ``uses``)
    in the findings collection, exactly as ``disinfo analyse`` would, marked ``tlp``.
    ``version`` (from :func:`cluster_version`) refuses with Conflict if the cluster changed
    since it was shown."""
    level = check_tlp(tlp)
    cluster = snapshot.cluster(key)
    if version is not None and version != cluster_version(cluster):
        raise Conflict(
            f"cluster {key} changed since it was shown (now {len(cluster.members)} members):"
            " reload it and share again"
        )
    catalogue = Catalogue.required(store)
    finding = cluster_finding(snapshot, cluster)
    return publish(store, settings, [finding], catalogue=catalogue, tlp=level, actor=actor)


__all__ = [
    "MAX_AGE_S",
    "MAX_DOCUMENTS",
    "Snapshot",
    "Snapshots",
    "check_tlp",
    "cluster_finding",
    "cluster_version",
    "clusters_of",
    "home_caller",
    "networks_of",
    "share_cluster",
    "snapshots",
]
