"""The library of known false narratives, and matching incoming texts against it.

A narrative is what an analyst writes down once and the platform then recognises: a title, a
summary, example texts in the languages it circulates in, the DISARM techniques it serves,
and a TLP level. It is stored as a STIX 2.1 object of the custom type ``mburoja-narrative``, defined
by Mburoja's ``extension-definition`` (:data:`EXTENSION_ID`, the same id on every instance),
so it travels through TAXII and federation like any other object::

    {"type": "mburoja-narrative", "id": "mburoja-narrative--…", "name": "…", "description": "…",
     "examples": [{"lang": "sq", "text": "…"}, …],
     "external_references": [{"source_name": "DISARM", "external_id": "T0003"}],
     "object_marking_refs": ["marking-definition--…"],
     "extensions": {"extension-definition--…": {"extension_type": "new-sdo"}}}

Writes go through the real :class:`~mburoja.ingest.pipeline.Ingestor` into a collection
(``narratives`` by default); an edit is a new version with the same id and ``created``.

:class:`NarrativeMatcher` compares documents with every narrative's examples through one or
more embedders (:mod:`mburoja.disinfo.embedders`), ranks the narratives per embedder, fuses
the ranks with reciprocal rank fusion and keeps what passes the thresholds that
:func:`calibrate` picks on a held-out, labelled split.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Final

import msgspec
import numpy as np
import orjson
from numpy.typing import NDArray

from mburoja.config import Settings
from mburoja.disinfo.embedders import (
    Calibration,
    Embedder,
    LexicalEmbedder,
    NarrativeError,
    NarrativeScorer,
    Ranking,
    best_threshold,
    fold,
    fuse,
    shared_terms,
    terms,
)
from mburoja.disinfo.model import Document
from mburoja.disinfo.objects import MBUROJA_IDENTITY
from mburoja.errors import NotFound
from mburoja.ingest.pipeline import Ingestor
from mburoja.policy import Caller, Policy, Prefilter
from mburoja.stix import timestamps
from mburoja.stix.identifiers import is_identifier, uuid5_id
from mburoja.stix.markings import TLP2, tlp_level
from mburoja.stix.model import RawObject
from mburoja.store.sql import SqlStore
from mburoja.store.taxii import TaxiiQuery

NARRATIVE_TYPE: Final = "mburoja-narrative"
COLLECTION: Final = "narratives"
#: the Mburoja project's identity, author of its extension definitions (the same everywhere)
EXTENSION_ID: Final = uuid5_id("extension-definition", b"mburoja-narrative")
_DEFINED: Final = "2026-01-01T00:00:00.000Z"
_SCHEMA_URL: Final = "https://github.com/mburoja/mburoja/blob/main/docs/disinfo/narratives.md"
DISARM_SOURCE: Final = "DISARM"
_TECHNIQUE: Final = re.compile(r"T\d{4}(?:\.\d{3})?")
_LANG: Final = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{2,8})*")
MAX_EXAMPLES: Final = 200
MAX_TEXT: Final = 10_000


class Example(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One text that carries the narrative, and its language (ISO 639-1, ``sh`` for Latin
    Serbian/Croatian/Bosnian)."""

    lang: str
    text: str


class NarrativeDraft(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What an analyst writes (CLI file, API body): a new narrative, or with ``id`` the next
    version of one."""

    title: str
    summary: str = ""
    examples: tuple[Example, ...] = ()
    #: DISARM technique ids, e.g. ``T0003`` or ``T0084.001``
    techniques: tuple[str, ...] = ()
    tlp: str = "amber"
    id: str | None = None


class Narrative(msgspec.Struct, frozen=True, kw_only=True):
    """A stored narrative (its current version)."""

    id: str
    title: str
    summary: str
    examples: tuple[Example, ...]
    techniques: tuple[str, ...]
    tlp: str | None
    created: str
    modified: str
    created_by: str | None = None


# --------------------------------------------------------------------------- STIX form


def extension_objects() -> list[dict[str, Any]]:
    """The ``extension-definition`` of the narrative type (TLP:CLEAR, fixed id and timestamps,
    so every instance sends the same bytes). Its author, :data:`MBUROJA_IDENTITY`, is the
    project identity the other disinfo definitions name too."""
    definition = {
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": EXTENSION_ID,
        "created_by_ref": MBUROJA_IDENTITY,
        "created": _DEFINED,
        "modified": _DEFINED,
        "name": "Mburoja narrative",
        "description": (
            f"A known false narrative, as an SDO of type {NARRATIVE_TYPE!r}: name, description, "
            "examples (objects with lang and text) and DISARM techniques as "
            "external_references with source_name DISARM and the technique id."
        ),
        "schema": _SCHEMA_URL,
        "version": "1.0.0",
        "extension_types": ["new-sdo"],
        "object_marking_refs": [TLP2["clear"]],
    }
    return [definition]


def to_stix(narrative: Narrative) -> dict[str, Any]:
    """The STIX object of ``narrative``."""
    obj: dict[str, Any] = {
        "type": NARRATIVE_TYPE,
        "spec_version": "2.1",
        "id": narrative.id,
        "created": narrative.created,
        "modified": narrative.modified,
    }
    if narrative.created_by:
        obj["created_by_ref"] = narrative.created_by
    obj["name"] = narrative.title
    if narrative.summary:
        obj["description"] = narrative.summary
    obj["examples"] = [{"lang": e.lang, "text": e.text} for e in narrative.examples]
    if narrative.techniques:
        obj["external_references"] = [
            {"source_name": DISARM_SOURCE, "external_id": t} for t in narrative.techniques
        ]
    if narrative.tlp:
        obj["object_marking_refs"] = [TLP2[narrative.tlp]]
    obj["extensions"] = {EXTENSION_ID: {"extension_type": "new-sdo"}}
    return obj


def from_stix(obj: Mapping[str, Any]) -> Narrative:
    """A narrative from its STIX object; tolerant of what another producer leaves out (one
    without examples is listed, but matches nothing)."""
    if obj.get("type") != NARRATIVE_TYPE:
        raise NarrativeError(f"{obj.get('id')!r} is a {obj.get('type')!r}, not a narrative")
    examples = tuple(
        Example(str(e["lang"]), str(e["text"]))
        for e in obj.get("examples") or ()
        if isinstance(e, dict) and isinstance(e.get("text"), str) and e.get("lang")
    )
    techniques = tuple(
        str(ref["external_id"])
        for ref in obj.get("external_references") or ()
        if isinstance(ref, dict)
        and str(ref.get("source_name", "")).upper() == DISARM_SOURCE
        and ref.get("external_id")
    )
    markings = obj.get("object_marking_refs")
    return Narrative(
        id=str(obj["id"]),
        title=str(obj.get("name", "")),
        summary=str(obj.get("description", "")),
        examples=examples,
        techniques=techniques,
        tlp=tlp_level(markings) if isinstance(markings, list) else None,
        created=str(obj.get("created", "")),
        modified=str(obj.get("modified", obj.get("created", ""))),
        created_by=obj.get("created_by_ref"),
    )


def check_draft(draft: NarrativeDraft) -> NarrativeDraft:
    """``draft`` cleaned (stripped, TLP spelled as TLP 2.0, duplicate examples and techniques
    dropped), or :class:`NarrativeError` naming the field and why."""
    name = draft.id or draft.title or "narrative"
    title = draft.title.strip()
    if not title or len(title) > 300:
        raise NarrativeError(f"{name}: title: must be 1 to 300 characters")
    texts = {"title": title, "summary": draft.summary}
    texts.update({f"examples[{i}].text": e.text for i, e in enumerate(draft.examples)})
    for field, value in texts.items():  # the store's text columns (PostgreSQL) cannot hold it
        if "\x00" in value:
            raise NarrativeError(f"{name}: {field}: must not contain a NUL character")
    if draft.id is not None and (
        not is_identifier(draft.id) or not draft.id.startswith(NARRATIVE_TYPE + "--")
    ):
        raise NarrativeError(f"{name}: id: must be {NARRATIVE_TYPE}--<uuid>, got {draft.id!r}")
    tlp = draft.tlp.strip().lower().removeprefix("tlp:")
    tlp = "clear" if tlp == "white" else tlp
    if tlp not in TLP2:
        raise NarrativeError(f"{name}: tlp: must be one of {', '.join(TLP2)}, got {draft.tlp!r}")
    examples: dict[tuple[str, str], Example] = {}
    for i, example in enumerate(draft.examples):
        text, lang = example.text.strip(), example.lang.strip().lower()
        if not _LANG.fullmatch(lang):
            raise NarrativeError(f"{name}: examples[{i}].lang: want ISO 639-1, got {lang!r}")
        if not text or len(text) > MAX_TEXT:
            raise NarrativeError(f"{name}: examples[{i}].text: must be 1 to {MAX_TEXT} chars")
        examples.setdefault((lang, text), Example(lang, text))
    if not examples:
        raise NarrativeError(f"{name}: examples: give at least one example text")
    if len(examples) > MAX_EXAMPLES:
        raise NarrativeError(f"{name}: examples: at most {MAX_EXAMPLES}, got {len(examples)}")
    techniques = tuple(dict.fromkeys(t.strip().upper() for t in draft.techniques))
    for t in techniques:
        if not _TECHNIQUE.fullmatch(t):
            raise NarrativeError(f"{name}: techniques: {t!r} is not a DISARM id like T0003")
    return msgspec.structs.replace(
        draft,
        title=title,
        summary=draft.summary.strip(),
        examples=tuple(examples.values()),
        techniques=techniques,
        tlp=tlp,
    )


# --------------------------------------------------------------------------- the library


def add_narrative(
    store: SqlStore,
    settings: Settings,
    draft: NarrativeDraft,
    *,
    created_by: str | None = None,
    owner: str | None = None,
    actor: str = "cli",
    collection: str = COLLECTION,
) -> Narrative:
    """Store a new narrative (``draft.id`` may name the id to use) and return it."""
    draft = check_draft(draft)
    narrative_id = draft.id or f"{NARRATIVE_TYPE}--{uuid.uuid4()}"
    if store.current(narrative_id) is not None:
        raise NarrativeError(f"{narrative_id} exists already; update it instead")
    now = timestamps.now()
    narrative = _from_draft(draft, narrative_id, now, now, created_by)
    _write(store, settings, narrative, owner=owner, actor=actor, collection=collection)
    return narrative


def update_narrative(
    store: SqlStore,
    settings: Settings,
    narrative_id: str,
    draft: NarrativeDraft,
    *,
    owner: str | None = None,
    actor: str = "cli",
    collection: str = COLLECTION,
) -> Narrative:
    """Store ``draft`` as the next version of narrative ``narrative_id`` (same id, same
    ``created``, a later ``modified``) and return it."""
    draft = check_draft(draft)
    old = get_narrative(store, narrative_id)
    now = timestamps.now()
    if timestamps.version_key(now) <= timestamps.version_key(old.modified):
        later = timestamps.parse(old.modified) + timedelta(milliseconds=1)
        now = later.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    narrative = _from_draft(draft, narrative_id, old.created, now, old.created_by)
    _write(store, settings, narrative, owner=owner, actor=actor, collection=collection)
    return narrative


def save_narrative(
    store: SqlStore, settings: Settings, draft: NarrativeDraft, **where: Any
) -> Narrative:
    """Add ``draft``, or update the stored narrative its ``id`` names; ``where`` as for
    :func:`add_narrative` (``created_by`` counts only for a new one)."""
    if draft.id is not None and store.current(draft.id) is not None:
        where.pop("created_by", None)
        return update_narrative(store, settings, draft.id, draft, **where)
    return add_narrative(store, settings, draft, **where)


def get_narrative(
    store: SqlStore,
    narrative_id: str,
    *,
    policy: Policy | None = None,
    caller: Caller | None = None,
) -> Narrative:
    """The current version of a narrative; with ``policy``, only if ``caller`` may see it.
    :class:`~mburoja.errors.NotFound` otherwise (a hidden one is not told apart)."""
    version = store.current(narrative_id)
    raw = version.raw if version is not None and version.type == NARRATIVE_TYPE else None
    if version is not None and raw is not None and policy is not None:
        raw = policy.view(caller or Caller(), version.owner, version.markings, raw)
    if raw is None:
        raise NotFound(f"no narrative {narrative_id}")
    return from_stix(orjson.loads(raw))


def list_narratives(
    store: SqlStore,
    *,
    collection: str = COLLECTION,
    policy: Policy | None = None,
    caller: Caller | None = None,
) -> list[Narrative]:
    """The current narratives in ``collection``, oldest first; with ``policy``, those
    ``caller`` may see. An absent collection has none."""
    try:
        cid = store.collection(collection)[0]
    except NotFound:
        return []
    who = caller or Caller()
    prefilter = policy.prefilter(who) if policy else Prefilter(everything=True)
    query = TaxiiQuery(types=(NARRATIVE_TYPE,))
    out: list[Narrative] = []
    after: tuple[str, int] | None = None
    while True:
        rows, more = store.taxii_rows(cid, query, prefilter, after=after, limit=1000)
        views: Iterable[bytes | None] = (
            policy.views(who, [(r.owner, r.markings, r.raw, r.inspect) for r in rows])
            if policy
            else (r.raw for r in rows)
        )
        out.extend(from_stix(orjson.loads(view)) for view in views if view is not None)
        if not more or not rows:
            return out
        after = (rows[-1].date_added, rows[-1].seq)


def _from_draft(
    draft: NarrativeDraft, narrative_id: str, created: str, modified: str, by: str | None
) -> Narrative:
    return Narrative(
        id=narrative_id,
        title=draft.title,
        summary=draft.summary,
        examples=draft.examples,
        techniques=draft.techniques,
        tlp=draft.tlp,
        created=created,
        modified=modified,
        created_by=by,
    )


def _write(
    store: SqlStore,
    settings: Settings,
    narrative: Narrative,
    *,
    owner: str | None,
    actor: str,
    collection: str,
) -> None:
    """Ingest the narrative (with the objects that define its type) into ``collection``."""
    store.ensure_collection(collection, "Known false narratives")
    objects = [*extension_objects(), to_stix(narrative)]
    items = (RawObject(orjson.dumps(o), "narratives", i) for i, o in enumerate(objects))
    report = Ingestor(store, settings, workers=0).run(
        items, source="narratives", actor=actor, collection=collection, owner=owner
    )
    if report.rejected:
        why = "; ".join(f"{r.field}: {r.reason}" for r in report.rejects[:3])
        raise NarrativeError(f"narrative {narrative.id} was rejected (see quarantine): {why}")


# --------------------------------------------------------------------------- matching

#: Thresholds on each embedder's cosine similarity, as :func:`calibrate` picked them on the
#: held-out calibration split of the project's multilingual test set (tests/disinfo); an
#: embedder not named here accepts any positive similarity until it is calibrated.
DEFAULT_THRESHOLDS: Final[Mapping[str, float]] = {"lexical": 0.13, "e5": 0.9}


class Evidence(msgspec.Struct, frozen=True, kw_only=True):
    """Why a document matched: the example closest to it and what they share."""

    example: str
    lang: str
    #: the embedder whose closest example this is
    matcher: str
    #: words of the example (as written there) that the document also has
    terms: tuple[str, ...]
    #: the most telling shared character n-grams (folded)
    ngrams: tuple[str, ...]


class NarrativeMatch(msgspec.Struct, frozen=True, kw_only=True):
    """One narrative found in one document."""

    document: str
    narrative: str
    title: str
    #: 1 for the document's best match
    rank: int
    #: reciprocal rank fusion over the embedders that accepted it
    score: float
    #: each embedder's cosine similarity with the closest example
    similarity: dict[str, float]
    #: each embedder's rank of this narrative for this document
    ranks: dict[str, int]
    #: the embedders whose threshold it passed
    matchers: tuple[str, ...]
    evidence: Evidence


class NarrativeMatcher:
    """The library, fitted into each embedder once, ready to match batches of documents.

    ``embedders`` default to the lexical one alone; ``thresholds`` (per embedder name) default
    to :data:`DEFAULT_THRESHOLDS`; ``decide_by`` names the embedders whose thresholds accept a
    match (see :meth:`rank`); ``rrf_k`` is the constant of reciprocal rank fusion; ``top_k``
    caps the matches kept per document.
    """

    def __init__(
        self,
        narratives: Sequence[Narrative],
        embedders: Sequence[Embedder] | None = None,
        *,
        thresholds: Mapping[str, float] | None = None,
        decide_by: Sequence[str] | None = None,
        rrf_k: int = 60,
        top_k: int = 3,
    ) -> None:
        self.narratives = [n for n in narratives if n.examples]
        self.embedders = list(embedders) if embedders else [LexicalEmbedder()]
        names = [e.name for e in self.embedders]
        if len(set(names)) != len(names):
            raise NarrativeError(f"embedders must have distinct names, got {names}")
        semantic = [e.name for e in self.embedders if e.reads == "lead"]
        self.deciders = list(decide_by) if decide_by else (semantic or names)
        if not set(self.deciders) <= set(names):
            raise NarrativeError(f"decide_by {self.deciders} names no embedder of {names}")
        self.thresholds = dict(DEFAULT_THRESHOLDS if thresholds is None else thresholds)
        self.rrf_k = rrf_k
        self.top_k = top_k
        self.examples = [e for n in self.narratives for e in n.examples]
        sizes = [len(n.examples) for n in self.narratives]
        texts = [e.text for e in self.examples]
        # an empty library (none the caller may see) has nothing to fit, and matches nothing
        self._scorers = (
            {e.name: NarrativeScorer(e.fit(texts), sizes) for e in self.embedders}
            if self.narratives
            else {}
        )
        self._lexical = next((e for e in self.embedders if isinstance(e, LexicalEmbedder)), None)
        self._terms = [terms(e.text) for e in self.examples]

    def apply(self, calibrations: Mapping[str, Calibration]) -> None:
        """Use the thresholds :func:`calibrate` chose."""
        self.thresholds.update({name: c.threshold for name, c in calibrations.items()})

    def rank(
        self,
        documents: Sequence[Document],
        clusters: Mapping[str, str] | None = None,
        *,
        thresholds: Mapping[str, float] | None = None,
    ) -> Ranking:
        """Score and rank every narrative for every document.

        A narrative is accepted for a document when one of the deciding embedders (the
        semantic ones when there are any, else all) scores it at or above its threshold. The
        accepted ones are ordered by reciprocal rank fusion: the sum of ``1 / (k + rank)``
        over the embedders whose threshold they pass.

        ``clusters`` maps a document id to its near-duplicate cluster's representative id:
        embedders that read leads then embed one lead per cluster (the representative's when
        it is among ``documents``). The lexical embedder reads every document's own text.
        ``thresholds`` override the matcher's for this call."""
        scores = {}
        for embedder in self.embedders:
            per_example = self._similarities(embedder, documents, clusters)
            scores[embedder.name] = self._scorers[embedder.name].scores(per_example)
        chosen = {**self.thresholds, **(thresholds or {})}
        return fuse(scores, chosen, self.deciders, self.rrf_k)

    def _similarities(
        self,
        embedder: Embedder,
        documents: Sequence[Document],
        clusters: Mapping[str, str] | None,
    ) -> NDArray[np.float32]:
        if not documents or not self.examples:
            return np.zeros((len(documents), len(self.examples)), dtype=np.float32)
        if embedder.reads == "full":
            return embedder.similarities([f"{d.title}\n{d.text}" for d in documents])
        where = {d.id: i for i, d in enumerate(documents)}
        slot: dict[str, int] = {}
        texts: list[str] = []
        rows: list[int] = []
        for doc in documents:
            rep = clusters.get(doc.id, doc.id) if clusters else doc.id
            if rep not in slot:
                slot[rep] = len(texts)
                texts.append(documents[where[rep]].lead if rep in where else doc.lead)
            rows.append(slot[rep])
        return embedder.similarities(texts)[rows]

    def match(
        self,
        documents: Sequence[Document],
        clusters: Mapping[str, str] | None = None,
        *,
        top_k: int | None = None,
        thresholds: Mapping[str, float] | None = None,
    ) -> list[NarrativeMatch]:
        """The narratives found in each document, best first (see :meth:`rank`)."""
        if not self.narratives or not documents:
            return []
        ranking = self.rank(documents, clusters, thresholds=thresholds)
        keep = self.top_k if top_k is None else top_k
        names = [e.name for e in self.embedders]
        top = np.max(np.stack([ranking.similarity[n] for n in names]), axis=0)
        out: list[NarrativeMatch] = []
        for d in np.flatnonzero(ranking.accepted.any(axis=1)).tolist():
            candidates = np.flatnonzero(ranking.accepted[d])
            order = candidates[np.lexsort((-top[d, candidates], -ranking.fused[d, candidates]))]
            doc = documents[d]
            full = f"{doc.title}\n{doc.text}"
            if self._lexical is not None:
                features, words = self._lexical.features(full)
            else:
                features, words = None, set(fold(full[:MAX_TEXT]).split())
            for rank, n in enumerate(order[:keep].tolist(), 1):
                out.append(self._match(doc, words, features, d, n, rank, ranking, names))
        return out

    def _match(
        self,
        doc: Document,
        words: set[str],
        features: NDArray[np.int64] | None,
        d: int,
        n: int,
        rank: int,
        ranking: Ranking,
        names: list[str],
    ) -> NarrativeMatch:
        passed = [m for m in names if ranking.passed[m][d, n]]
        chooser = min(passed, key=lambda m: (int(ranking.ranks[m][d, n]), names.index(m)))
        index = int(ranking.closest[chooser][d, n])
        example = self.examples[index]
        ngrams = (
            self._lexical.overlap(features, index)
            if self._lexical is not None and features is not None
            else []
        )
        narrative = self.narratives[n]
        return NarrativeMatch(
            document=doc.id,
            narrative=narrative.id,
            title=narrative.title,
            rank=rank,
            score=round(float(ranking.fused[d, n]), 6),
            similarity={m: round(float(ranking.similarity[m][d, n]), 4) for m in names},
            ranks={m: int(ranking.ranks[m][d, n]) for m in names},
            matchers=tuple(passed),
            evidence=Evidence(
                example=example.text,
                lang=example.lang,
                matcher=chooser,
                terms=tuple(shared_terms(words, self._terms[index])),
                ngrams=tuple(ngrams),
            ),
        )


def match_narratives(
    documents: Sequence[Document],
    narratives: Sequence[Narrative],
    *,
    embedders: Sequence[Embedder] | None = None,
    thresholds: Mapping[str, float] | None = None,
    clusters: Mapping[str, str] | None = None,
) -> list[NarrativeMatch]:
    """Match ``documents`` against ``narratives`` in one call (the stage's pure function)."""
    matcher = NarrativeMatcher(narratives, embedders, thresholds=thresholds)
    return matcher.match(documents, clusters)


# --------------------------------------------------------------------------- calibration


def calibrate(
    matcher: NarrativeMatcher,
    documents: Sequence[Document],
    truth: Mapping[str, Collection[str]],
    *,
    clusters: Mapping[str, str] | None = None,
) -> dict[str, Calibration]:
    """Pick, per embedder, the similarity threshold that maximises F1 over (document,
    narrative) pairs of a labelled calibration split; ``truth`` maps a document id to the ids
    of the narratives it carries (none for an unrelated text). The threshold lies halfway
    between the lowest accepted similarity and the next one below it.

    Calibrate on texts kept apart from those you evaluate on."""
    ids = [n.id for n in matcher.narratives]
    labels = np.array([[i in truth.get(d.id, ()) for i in ids] for d in documents], dtype=bool)
    if not labels.any():
        raise NarrativeError("calibration needs documents labelled with library narratives")
    ranking = matcher.rank(documents, clusters)
    return {name: best_threshold(name, sims, labels) for name, sims in ranking.similarity.items()}
