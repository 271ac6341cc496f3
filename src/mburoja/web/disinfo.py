"""The disinformation pages: copy-paste clusters (members, patient zero, spread timeline,
DISARM tags, "share as finding"), coordination networks as graphs, and the narrative library
with its matches.

These are the home organisation's working data, like the REST endpoints under
``/api/disinfo/``: other organisations get a 403 page (what the home organisation shares
with them as STIX findings appears in their ordinary views). The detectors' results come
from :mod:`mburoja.disinfo.snapshot`, which reads the documents through the policy as the
home organisation (what every home account may see at least) and recomputes only when the
documents or the narrative library change. Sharing needs an admin or analyst account.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any, Final

import msgspec
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from mburoja.api.home import WRITER_ROLES
from mburoja.disinfo.copies import CopyCluster
from mburoja.disinfo.disarm import TAGS, Catalogue
from mburoja.disinfo.findings import finding_objects
from mburoja.disinfo.model import Document
from mburoja.disinfo.snapshot import (
    Snapshot,
    check_tlp,
    cluster_finding,
    cluster_version,
    share_cluster,
    snapshots,
)
from mburoja.errors import ConfigError, Forbidden, InputFormatError
from mburoja.stix.markings import TLP2
from mburoja.web.context import Signed, WebContext, field
from mburoja.web.disinfo_graph import graphs, timeline

#: clusters listed on the overview, networks drawn, matches listed per narrative
SHOWN_CLUSTERS: Final = 50
DRAWN_NETWORKS: Final = 12
SHOWN_MATCHES: Final = 25
_TITLE: Final = 160


class Row(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    size: int
    outlets: int
    level: str
    first_seen: str
    last_seen: str
    zero_outlet: str
    zero_title: str


class MemberRow(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    outlet: str
    url: str
    #: the URL as a link only when it is http(s): never a ``javascript:`` href
    link: bool
    title: str
    lang: str
    published: str
    jaccard: str
    zero: bool


class Tag(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    why: str


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "unknown"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M")


def _cut(text: str, limit: int = _TITLE) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _span(cluster: CopyCluster) -> tuple[float | None, float | None]:
    times = [m.published for m in cluster.members if m.published is not None]
    return (min(times), max(times)) if times else (None, None)


def _row(cluster: CopyCluster, docs: dict[str, Document]) -> Row:
    first, last = _span(cluster)
    zero = docs.get(cluster.patient_zero)
    return Row(
        key=cluster.patient_zero,
        size=len(cluster.members),
        outlets=len(cluster.outlets),
        level=cluster.level,
        first_seen=_when(first),
        last_seen=_when(last),
        zero_outlet=cluster.first_source,
        zero_title=_cut(zero.title if zero is not None else cluster.patient_zero),
    )


def _tag(catalogue: Catalogue | None, disarm_id: str, why: str) -> Tag:
    found = catalogue.get(disarm_id) if catalogue is not None else None
    return Tag(id=disarm_id, name=found.name if found else "(DISARM not loaded)", why=why)


def _catalogue(web: WebContext) -> Catalogue | None:
    try:
        return Catalogue.required(web.store)
    except ConfigError:
        return None


def _timing(snap: Snapshot) -> dict[str, Any]:
    return {
        "documents": len(snap.documents),
        "read": snap.read,
        "seconds": round(sum(snap.seconds.values()), 2),
        "stages": snap.seconds,
        "computed": _when(snap.computed),
    }


def routes(web: WebContext) -> list[BaseRoute]:
    results = snapshots(web.store, web.settings, web.policy)
    least = web.settings.disinfo.min_outlets

    def home_only(signed: Signed) -> Snapshot:
        if not web.is_home(signed):
            raise Forbidden(
                "The disinformation workbench is the home organisation's working data. "
                "Findings shared with your organisation appear in your ordinary views."
            )
        return results.current()

    def overview(_request: Request, signed: Signed) -> Response:
        started = time.perf_counter()
        snap = home_only(signed)
        shown = sorted(
            snap.clusters(least),
            key=lambda c: (_span(c)[1] or 0.0, c.patient_zero),
            reverse=True,
        )
        networks = sorted(snap.coordination.components, key=lambda n: -len(n.members))
        counts = Counter(m.narrative for m in snap.narratives)
        return web.show(
            signed,
            "disinfo.html",
            clusters=[_row(c, snap.documents) for c in shown[:SHOWN_CLUSTERS]],
            cluster_count=len(shown),
            cross_language=len(snap.copies.cross_language),
            networks=networks[:5],
            network_count=len(networks),
            accounts=len(snap.coordination.accounts),
            interval=snap.coordination.interval,
            narratives=[(n, counts.get(n.id, 0)) for n in snap.library],
            timing=_timing(snap),
            page_seconds=round(time.perf_counter() - started, 3),
            when=_when,
        )

    def members_of(cluster: CopyCluster, docs: dict[str, Document]) -> list[MemberRow]:
        rows = []
        for m in cluster.members:
            doc = docs.get(m.id)
            url = (doc.url if doc else None) or ""
            rows.append(
                MemberRow(
                    id=m.id,
                    outlet=(doc.source_name or doc.source) if doc else m.source,
                    url=url,
                    link=url.startswith(("https://", "http://")),
                    title=_cut(doc.title if doc else ""),
                    lang=(doc.lang or "") if doc else "",
                    published=_when(m.published),
                    jaccard=f"{m.jaccard:.2f}",
                    zero=m.id == cluster.patient_zero,
                )
            )
        return rows

    def cluster_page(
        signed: Signed, snap: Snapshot, cluster: CopyCluster, status: int = 200, **extra: Any
    ) -> Response:
        catalogue = _catalogue(web)
        ids = {m.id for m in cluster.members}
        carried = [m for m in snap.narratives if m.document in ids]
        library = {n.id: n for n in snap.library}
        tags = [_tag(catalogue, t, "copy-paste cluster") for t in TAGS["copies"]]
        for narrative_id in sorted({m.narrative for m in carried}):
            known = library.get(narrative_id)
            why = f"narrative: {known.title}" if known else "narrative"
            wanted = (*TAGS["narrative"], *(known.techniques if known else ()))
            tags += [_tag(catalogue, t, why) for t in dict.fromkeys(wanted)]
        stored: list[dict[str, str]] = []
        identity = web.store.home_identity()
        if catalogue is not None and identity is not None:
            draft = finding_objects(
                cluster_finding(snap, cluster), identity=identity, catalogue=catalogue
            )
            wanted_ids = [o["id"] for o in draft if o["type"] in ("campaign", "report")]
            found = web.store.current_many(wanted_ids)
            stored = [
                {"id": oid, "tlp": found[oid].tlp or "none"} for oid in wanted_ids if oid in found
            ]
        first, last = _span(cluster)
        return web.show(
            signed,
            "disinfo_cluster.html",
            status,
            key=cluster.patient_zero,
            version=cluster_version(cluster),
            cluster=cluster,
            first_seen=_when(first),
            last_seen=_when(last),
            members=members_of(cluster, snap.documents),
            zero=_row(cluster, snap.documents),
            chart=timeline(cluster, snap.documents),
            tags=tags,
            narratives=sorted({m.title for m in carried}),
            stored=stored,
            disarm_loaded=catalogue is not None,
            may_share=may_share(signed),
            levels=list(TLP2),
            default_tlp=web.settings.disinfo.findings_tlp,
            **extra,
        )

    def may_share(signed: Signed) -> bool:
        return web.is_home(signed) and signed.caller.role in WRITER_ROLES

    def cluster(request: Request, signed: Signed) -> Response:
        snap = home_only(signed)
        found = snap.cluster(request.path_params["key"])
        return cluster_page(signed, snap, found)

    def share(request: Request, signed: Signed, form: FormData) -> Response:
        snap = home_only(signed)
        if not may_share(signed):
            raise Forbidden("sharing a finding needs an admin or analyst account")
        key = request.path_params["key"]
        tlp = check_tlp(field(form, "tlp") or web.settings.disinfo.findings_tlp)
        version = field(form, "version") or None
        if version is not None and len(version) != 16:
            raise InputFormatError("version: expected the 16-character digest the page carries")
        published = share_cluster(
            web.store,
            web.settings,
            snap,
            key,
            tlp=tlp,
            version=version,
            actor=signed.caller.user_name or "web",
        )
        report = published.report
        return web.show(
            signed,
            "disinfo_shared.html",
            key=key,
            tlp=tlp,
            objects=[(o["type"], o["id"]) for o in published.objects],
            counts={
                "new": report.new,
                "new versions": report.new_versions,
                "unchanged": report.unchanged,
                "rejected": report.rejected,
            },
        )

    def networks(_request: Request, signed: Signed) -> Response:
        snap = home_only(signed)
        result = snap.coordination
        ordered = sorted(result.components, key=lambda n: (-len(n.members), n.id))
        return web.show(
            signed,
            "disinfo_networks.html",
            result=result,
            networks=ordered,
            drawings=graphs(ordered, DRAWN_NETWORKS),
            accounts=len(result.accounts),
            when=_when,
        )

    def narratives(_request: Request, signed: Signed) -> Response:
        snap = home_only(signed)
        catalogue = _catalogue(web)
        in_cluster = {m.id: c.patient_zero for c in snap.copies.clusters for m in c.members}
        by_narrative: dict[str, list[dict[str, Any]]] = defaultdict(list)
        best_first = sorted(
            snap.narratives, key=lambda m: (-max(m.similarity.values(), default=0.0), m.document)
        )
        for match in best_first:
            doc = snap.documents.get(match.document)
            by_narrative[match.narrative].append(
                {
                    "title": _cut(doc.title if doc and doc.title else match.document),
                    "outlet": (doc.source_name or doc.source) if doc else "",
                    "published": _when(doc.published if doc else None),
                    "score": f"{max(match.similarity.values(), default=0.0):.2f}",
                    "terms": ", ".join(match.evidence.terms[:8]),
                    "cluster": in_cluster.get(match.document, ""),
                }
            )
        library = [
            {
                "narrative": n,
                "count": len(by_narrative.get(n.id, [])),
                "matches": by_narrative.get(n.id, [])[:SHOWN_MATCHES],
                "tags": [
                    _tag(catalogue, t, "")
                    for t in dict.fromkeys((*TAGS["narrative"], *n.techniques))
                ],
            }
            for n in snap.library
        ]
        return web.show(signed, "disinfo_narratives.html", library=library)

    return [
        web.get("/disinfo", overview),
        web.get("/disinfo/clusters/{key}", cluster),
        web.post("/disinfo/clusters/{key}/share", share),
        web.get("/disinfo/networks", networks),
        web.get("/disinfo/narratives", narratives),
    ]
