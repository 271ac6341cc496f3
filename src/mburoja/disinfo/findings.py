"""A detector's finding as STIX 2.1 that an ally without Mburoja can read.

A :class:`Finding` (what every detector's result is turned into by a thin adapter) becomes:

- a ``campaign``: the operation the detector found, with ``first_seen``/``last_seen``,
  ``confidence`` and labels ``disinformation`` and its kind. A campaign rather than a
  ``grouping`` because STIX defines exactly the relations a finding needs for it
  (``campaign uses attack-pattern``, ``indicator indicates campaign``) and gives it a time
  span; a grouping has neither;
- ``uses`` relationships from the campaign to the DISARM attack-patterns: the kind's
  deterministic tags (:data:`~mburoja.disinfo.disarm.TAGS`) and the ones the finding names
  (a narrative's techniques, suggestions an analyst accepted), resolved through the DISARM
  :class:`~mburoja.disinfo.disarm.Catalogue` only;
- an ``indicator`` per disinformation domain, pattern ``[domain-name:value = '…']``,
  ``indicator_types`` ``attribution`` (it names who is behind a campaign, it does not say
  the site is malware), and ``indicates`` the campaign;
- ``domain-name``, ``url`` and ``user-account`` SCOs for the domains, URLs and accounts;
- a ``note`` with the evidence lines, about the campaign;
- a ``report`` (``report_types`` ``campaign``) whose ``object_refs`` name all of the above,
  the DISARM attack-patterns and the articles and posts (by the ids the caller gives, plus
  any STIX objects the caller hands over, e.g. the stored article objects).

Only STIX 2.1 core types and properties, and the OASIS TLP 2.0 marking extension (objects
the caller hands over are shipped as they are, e.g. the extension-defined articles): every
object is marked with the finding's TLP level (default TLP:AMBER: the finding names outlets
and accounts on a detector's evidence, so it goes to partners' organisations on a
need-to-know basis until an analyst lowers it).

**Re-running an analysis.** Ids are UUIDv5 of our identity, the finding's kind and its
``key`` (what stays the same from run to run, chosen by the detector's adapter), so a
re-run makes new versions of the same objects, never new objects. A new version keeps the
stored ``created`` (and the report's ``published``) and gets a later ``modified``; objects
are ingested as *derived*, so one whose content did not change is "unchanged" instead of a
new version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Final, NamedTuple

import msgspec
import orjson

from mburoja.config import Settings
from mburoja.disinfo.disarm import KINDS, Catalogue, normalise_id, tags_for
from mburoja.errors import ConfigError
from mburoja.ingest.pipeline import Ingestor, IngestReport
from mburoja.stix import timestamps
from mburoja.stix.identifiers import new_id, sco_id, uuid5_id
from mburoja.stix.markings import TLP2, tlp2_definition
from mburoja.stix.model import RawObject
from mburoja.store.sql import SqlStore

#: what a CERT shares unconfirmed findings at (see the module docstring)
DEFAULT_TLP: Final = "amber"
#: the collection findings are stored in (and served from over TAXII)
FINDINGS_COLLECTION: Final = "disinfo-findings"

StixObject = dict[str, Any]


class Account(msgspec.Struct, frozen=True, kw_only=True):
    """A social account involved, as a ``user-account`` SCO."""

    user_id: str
    login: str | None = None
    display_name: str | None = None
    #: ``account_type`` (open vocabulary: ``twitter``, ``facebook``, ``telegram``, ...)
    platform: str | None = None


class Finding(msgspec.Struct, frozen=True, kw_only=True):
    """What a detector found, in the terms every detector shares."""

    #: ``copies``, ``cross-language``, ``coordination``, ``narrative`` or ``new-site``
    kind: str
    title: str
    #: what identifies this finding from one run to the next: e.g. the patient-zero
    #: document of a copy cluster, the narrative and document of a match, the new site's
    #: domain. Empty: the sorted members and domains (a finding that grows is then new).
    key: str = ""
    description: str = ""
    #: STIX ids of the articles and posts (``Document.id``)
    members: tuple[str, ...] = ()
    accounts: tuple[Account, ...] = ()
    urls: tuple[str, ...] = ()
    #: disinformation domains: each gets an indicator
    domains: tuple[str, ...] = ()
    #: epoch seconds (UTC), like ``Document.published``
    first_seen: float | None = None
    last_seen: float | None = None
    #: the evidence trail, one line each
    evidence: tuple[str, ...] = ()
    #: DISARM ids beyond the kind's tags (a narrative's techniques, accepted suggestions)
    disarm: tuple[str, ...] = ()
    #: 0-100
    confidence: int | None = None
    #: STIX objects the caller already has (article objects, SCOs), referenced and shipped
    objects: tuple[StixObject, ...] = ()
    #: ids of stored objects the finding is about (a narrative of the library): the
    #: campaign is ``related-to`` each and the report names them, so the graph leads from
    #: the narrative to the finding, its articles and their accounts
    about: tuple[str, ...] = ()

    def identity_key(self) -> str:
        if self.key:
            return self.key
        parts = sorted(self.members) + sorted(d.lower() for d in self.domains)
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()


class Published(NamedTuple):
    report: IngestReport
    objects: list[StixObject]


def finding_objects(
    finding: Finding,
    *,
    identity: str,
    catalogue: Catalogue,
    now: str | None = None,
    tlp: str = DEFAULT_TLP,
    previous: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[StixObject]:
    """The STIX objects of ``finding``, created by ``identity`` and marked ``tlp``.

    ``previous`` maps ids to their stored current version (see :func:`publish`), whose
    ``created`` a new version keeps. Raises ``ValueError`` for a bad finding and
    ``NotFound`` for a DISARM id the catalogue does not hold.
    """
    if finding.kind not in KINDS:
        raise ValueError(f"finding kind {finding.kind!r} is not one of {', '.join(KINDS)}")
    if tlp not in TLP2:
        raise ValueError(f"TLP level {tlp!r} is not one of {', '.join(TLP2)}")
    now = now or timestamps.now()
    previous = previous or {}
    marked: StixObject = {"object_marking_refs": [TLP2[tlp]]}
    base = f"{identity}|disinfo|{finding.kind}|{finding.identity_key()}"

    def stamped(type_: str, name: str) -> StixObject:
        oid = uuid5_id(type_, f"{base}|{name}".encode())
        before = previous.get(oid, {})
        created = str(before.get("created") or now)
        modified = _later(now, str(before["modified"])) if before.get("modified") else now
        return {
            "type": type_,
            "spec_version": "2.1",
            "id": oid,
            "created_by_ref": identity,
            "created": created,
            "modified": modified,
        }

    scos = _scos(finding, marked)
    campaign = stamped("campaign", "campaign")
    campaign.update(name=finding.title, labels=["disinformation", finding.kind], **marked)
    if finding.description:
        campaign["description"] = finding.description
    _span(campaign, finding)
    if finding.confidence is not None:
        campaign["confidence"] = _confidence(finding.confidence)
    cid = campaign["id"]

    relationships: list[StixObject] = []
    tags = tags_for(finding.kind)
    techniques = dict.fromkeys([*tags, *map(normalise_id, finding.disarm)])
    for disarm_id in techniques:
        technique = catalogue.technique(disarm_id)
        rel = stamped("relationship", f"uses|{technique.stix_id}")
        why = "the detector's tag" if disarm_id in tags else "named in the finding"
        rel.update(
            relationship_type="uses",
            source_ref=cid,
            target_ref=technique.stix_id,
            description=f"DISARM {technique.disarm_id} {technique.name} ({finding.kind} "
            f"finding: {why})",
            **marked,
        )
        relationships.append(rel)

    for target in sorted(set(finding.about)):
        rel = stamped("relationship", f"related-to|{target}")
        rel.update(relationship_type="related-to", source_ref=cid, target_ref=target, **marked)
        relationships.append(rel)

    indicators: list[StixObject] = []
    for domain in sorted({_domain(d) for d in finding.domains}):
        ind = stamped("indicator", f"domain|{domain}")
        ind.update(
            name=f"Disinformation domain {domain}",
            description=f"Domain of the {finding.kind} finding: {finding.title}",
            indicator_types=["attribution"],
            pattern=f"[domain-name:value = '{_quoted(domain)}']",
            pattern_type="stix",
            valid_from=ind["created"],
            labels=["disinformation"],
            **marked,
        )
        if finding.confidence is not None:
            ind["confidence"] = _confidence(finding.confidence)
        indicators.append(ind)
        rel = stamped("relationship", f"indicates|{ind['id']}")
        rel.update(relationship_type="indicates", source_ref=ind["id"], target_ref=cid, **marked)
        relationships.append(rel)

    notes: list[StixObject] = []
    if finding.evidence:
        note = stamped("note", "evidence")
        note.update(
            abstract=f"Evidence: {finding.title}"[:300],
            content="\n".join(finding.evidence),
            object_refs=[cid],
            **marked,
        )
        notes.append(note)

    made = [*scos, campaign, *notes, *relationships, *indicators]
    refs = {o["id"] for o in made}
    refs.update(finding.members)
    refs.update(finding.about)
    refs.update(catalogue.technique(t).stix_id for t in techniques)
    report = stamped("report", "report")
    report.update(
        name=finding.title,
        report_types=["campaign"],
        published=str(previous.get(report["id"], {}).get("published") or report["created"]),
        object_refs=sorted(refs),
        labels=["disinformation", finding.kind],
        **marked,
    )
    if finding.description:
        report["description"] = finding.description
    return [*made, report]


def findings_bundle(objects: Iterable[StixObject], tlp: str = DEFAULT_TLP) -> StixObject:
    """A STIX bundle to share ``objects``, with the TLP 2.0 marking definition they use."""
    return {"type": "bundle", "id": new_id("bundle"), "objects": [tlp2_definition(tlp), *objects]}


def publish(
    store: SqlStore,
    settings: Settings,
    findings: Sequence[Finding],
    *,
    catalogue: Catalogue,
    tlp: str = DEFAULT_TLP,
    now: str | None = None,
    collection: str = FINDINGS_COLLECTION,
    source: str = "disinfo",
    actor: str = "disinfo",
) -> Published:
    """Store ``findings`` as STIX through the ingest pipeline (into ``collection``, and so to
    TAXII and federation), created by the home organisation's identity. A finding already
    stored gets new versions of its objects where they changed; nothing is duplicated."""
    identity = store.home_identity()
    if identity is None:
        raise ConfigError("findings need the home organisation: run `mburoja init --org NAME`")
    now = now or timestamps.now()
    objects: list[StixObject] = []
    for finding in findings:
        kw: dict[str, Any] = {"identity": identity, "catalogue": catalogue, "tlp": tlp}
        draft = finding_objects(finding, now=now, **kw)
        ids = [o["id"] for o in draft if "created" in o]
        stored = store.current_many(ids)
        previous = {oid: orjson.loads(v.raw) for oid, v in stored.items()}
        objects += finding_objects(finding, now=now, previous=previous, **kw)
    items = [RawObject(orjson.dumps(tlp2_definition(tlp)), "disinfo:findings", 0, True)]
    items += [
        RawObject(orjson.dumps(o), "disinfo:findings", i, True)
        for i, o in enumerate(objects, start=1)
    ]
    report = Ingestor(store, settings).run(items, source=source, actor=actor, collection=collection)
    return Published(report, objects)


# --------------------------------------------------------------------------- helpers


def _scos(finding: Finding, marked: StixObject) -> list[StixObject]:
    """The SCOs of the finding's domains, URLs and accounts, then the caller's objects
    (marked with the finding's TLP when they carry no marking of their own)."""
    out: dict[str, StixObject] = {}

    def add(obj: StixObject) -> None:
        out.setdefault(obj["id"], obj)

    for domain in sorted({_domain(d) for d in finding.domains}):
        add(_sco("domain-name", {"value": domain}, marked))
    for url in sorted(set(finding.urls)):
        add(_sco("url", {"value": url}, marked))
    for account in finding.accounts:
        props: StixObject = {"user_id": account.user_id}
        if account.login:
            props["account_login"] = account.login
        if account.platform:
            props["account_type"] = account.platform
        if account.display_name:
            props["display_name"] = account.display_name
        add(_sco("user-account", props, marked))
    for given in finding.objects:
        if not isinstance(given.get("id"), str):
            raise ValueError(f"an object handed to a finding has no id: {str(given)[:120]}")
        obj = dict(given)
        if not obj.get("object_marking_refs"):
            obj.update(marked)
        add(obj)
    return list(out.values())


def _sco(type_: str, props: StixObject, marked: StixObject) -> StixObject:
    return {"type": type_, "spec_version": "2.1", "id": sco_id(type_, props), **props, **marked}


def _domain(value: str) -> str:
    domain = value.strip().rstrip(".").lower()
    if not domain or any(c in domain for c in "/ '\\"):
        raise ValueError(f"not a domain name: {value!r}")
    return domain


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _confidence(value: int) -> int:
    if not 0 <= value <= 100:
        raise ValueError(f"confidence {value} is not within 0-100")
    return value


def _span(campaign: StixObject, finding: Finding) -> None:
    first, last = finding.first_seen, finding.last_seen
    if first is not None and last is not None and last < first:
        raise ValueError(f"finding {finding.title!r}: last_seen is before first_seen")
    if first is not None:
        campaign["first_seen"] = timestamps.from_epoch(first)
    if last is not None:
        campaign["last_seen"] = timestamps.from_epoch(last)


def _later(now: str, before: str) -> str:
    """``now``, or just after ``before`` when a clock says ``now`` is not later."""
    if timestamps.version_key(now) > timestamps.version_key(before):
        return now
    return (timestamps.parse(before) + timedelta(microseconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


__all__ = [
    "DEFAULT_TLP",
    "FINDINGS_COLLECTION",
    "Account",
    "Finding",
    "Published",
    "finding_objects",
    "findings_bundle",
    "publish",
]
