"""DISARM: the framework of disinformation techniques, loaded as STIX, kept apart from ATT&CK.

**Loading.** :func:`load_disarm` runs DISARM's own STIX bundle (``DISARM.json``) through the
ordinary :class:`~mburoja.ingest.pipeline.Ingestor` into the ``disarm`` collection, as it is:
its 391 ``attack-pattern`` techniques, 16 ``x-mitre-tactic``, 288 ``subtechnique-of``
relationships, the ``x-mitre-matrix``, the DISARM Foundation identity and its CC BY-SA
statement marking all land, with no reject and no warning.

**The quirk, and how it is kept apart from ATT&CK.** In that bundle every technique's
``kill_chain_name`` and ``external_references[].source_name`` say ``mitre-attack``, though the
ids (``T0084.001``) are DISARM's. Stored objects stay byte for byte as received, so nothing
is rewritten; instead nothing here trusts ``source_name``. An attack-pattern is a DISARM
technique (:func:`disarm_id_of`) only when its external id has DISARM's form ``T0nnn[.nnn]``
*and* DISARM vouches for it: the reference's URL is under ``github.com/DISARMFoundation/``,
or its ``source_name`` is ``DISARM``, or the object is ``created_by_ref`` the DISARM
Foundation identity. ATT&CK's ``T1566`` (or an ICS ``T0817``, or an object from
``attack.mitre.org`` that claims a DISARM id) is never one, even in the ``disarm``
collection. The store itself cannot merge the two: it keys objects by STIX id, and its
correlation search indexes no external ids (searching ``T1566`` or ``T0084`` finds nothing),
so lookups by technique id go through :class:`Catalogue` only.

**Tags.** Detectors tag their findings deterministically (:data:`TAGS`); the ids all exist
in the bundle (tested).

**Suggestions.** :class:`Suggester` ranks techniques by TF-IDF similarity of a text to each
technique's name and description (words and character 3-5-grams, no model;
one sparse matrix product per batch of texts). It is advisory:
every :class:`Advice` carries :data:`MEASURED`, the precision measured by
``scripts/eval_disarm.py`` on DISARM's own incident write-ups.
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import msgspec
import numpy as np
import orjson
from scipy import sparse

from mburoja.config import Settings
from mburoja.disinfo.model import Document
from mburoja.disinfo.stored import stored_objects
from mburoja.errors import ConfigError, NotFound
from mburoja.ingest.bundle import read_stix
from mburoja.ingest.pipeline import Ingestor, IngestReport
from mburoja.ingest.sources import read_file
from mburoja.store.sql import SqlStore

#: the collection DISARM is loaded into
DISARM_COLLECTION: Final = "disarm"
#: the DISARM Foundation, as the bundle names it (``created_by_ref`` of its techniques)
DISARM_IDENTITY: Final = "identity--f1a0f560-2d9e-4c5d-bf47-7e96e805de82"
#: where DISARM's own references point
DISARM_URL: Final = "https://github.com/DISARMFoundation/"
#: a DISARM technique id: ``T0`` and three digits, then optionally a sub-technique number.
#: ATT&CK's enterprise ids are ``T1nnn``; its ICS ids ``T08nn`` have this form, so the form
#: alone never decides (see :func:`disarm_id_of`).
DISARM_ID: Final = re.compile(r"T0\d{3}(?:\.\d{3})?")

#: what each detector's finding is tagged with, by finding kind
TAGS: Final[dict[str, tuple[str, ...]]] = {
    "copies": ("T0084.001",),  # Use Copypasta
    "cross-language": ("T0084.003", "T0085.008"),  # Deceptively Translated; Machine Translated
    "coordination": ("T0049", "T0049.003", "T0119"),  # Flood; Bots Amplify; Cross-Posting
    "narrative": ("T0003", "T0118"),  # Leverage / Amplify Existing Narratives
    "new-site": ("T0098",),  # Establish Inauthentic News Sites
}
KINDS: Final = tuple(TAGS)


def tags_for(kind: str) -> tuple[str, ...]:
    """The DISARM ids a finding of ``kind`` is always tagged with."""
    try:
        return TAGS[kind]
    except KeyError:
        raise ValueError(f"finding kind {kind!r} is not one of {', '.join(KINDS)}") from None


def normalise_id(value: str) -> str:
    """``t0084.001 `` -> ``T0084.001``."""
    return value.strip().upper()


class Technique(msgspec.Struct, frozen=True, kw_only=True):
    """One DISARM technique and the stored attack-pattern that carries it."""

    disarm_id: str
    stix_id: str
    name: str
    description: str = ""
    #: kill-chain phase names (DISARM tactics, e.g. ``develop-content``)
    phases: tuple[str, ...] = ()
    modified: str = ""


def disarm_id_of(obj: Mapping[str, Any]) -> str | None:
    """The DISARM id of a STIX attack-pattern, or None when it is not a DISARM technique
    (see the module docstring: the id's form *and* DISARM's provenance, never
    ``source_name`` alone). Revoked objects are not techniques any more."""
    if obj.get("type") != "attack-pattern" or obj.get("revoked") is True:
        return None
    vouched = obj.get("created_by_ref") == DISARM_IDENTITY
    for ref in obj.get("external_references") or ():
        if not isinstance(ref, dict):
            continue
        found = ref.get("external_id")
        if not isinstance(found, str) or DISARM_ID.fullmatch(found) is None:
            continue
        url = ref.get("url")
        source = ref.get("source_name")
        if (
            vouched
            or (isinstance(url, str) and url.startswith(DISARM_URL))
            or (isinstance(source, str) and source.casefold() == "disarm")
        ):
            return found
    return None


def technique_of(obj: Mapping[str, Any]) -> Technique | None:
    """The :class:`Technique` an attack-pattern object is, or None if not DISARM's."""
    found = disarm_id_of(obj)
    if found is None:
        return None
    phases = tuple(
        str(p.get("phase_name"))
        for p in obj.get("kill_chain_phases") or ()
        if isinstance(p, dict) and p.get("phase_name")
    )
    return Technique(
        disarm_id=found,
        stix_id=str(obj["id"]),
        name=str(obj.get("name") or ""),
        description=str(obj.get("description") or ""),
        phases=phases,
        modified=str(obj.get("modified") or ""),
    )


class Catalogue:
    """DISARM techniques by DISARM id: the only way Mburoja resolves a technique id.

    Built from stored objects (:meth:`from_store`) or a bundle (:meth:`from_bundle`); what
    is not a DISARM technique is left out and counted in ``skipped``. When two objects claim
    the same DISARM id (a later release of the bundle with fresh STIX ids) the one modified
    last wins and ``superseded`` counts the other.
    """

    def __init__(self, techniques: Iterable[Technique], *, skipped: int = 0) -> None:
        by_id: dict[str, Technique] = {}
        self.superseded = 0
        for t in techniques:
            held = by_id.get(t.disarm_id)
            if held is not None:
                self.superseded += 1
                if (held.modified, held.stix_id) >= (t.modified, t.stix_id):
                    continue
            by_id[t.disarm_id] = t
        self._by_id = dict(sorted(by_id.items()))
        self.skipped = skipped

    @classmethod
    def from_objects(cls, objects: Iterable[Mapping[str, Any]]) -> Catalogue:
        techniques: list[Technique] = []
        skipped = 0
        for obj in objects:
            if obj.get("type") != "attack-pattern":
                continue
            t = technique_of(obj)
            if t is None:
                skipped += 1
            else:
                techniques.append(t)
        return cls(techniques, skipped=skipped)

    @classmethod
    def from_bundle(cls, data: bytes) -> Catalogue:
        """From DISARM's bundle itself, without a store (evaluation, tests)."""
        bundle = orjson.loads(data)
        return cls.from_objects(o for o in bundle.get("objects", ()) if isinstance(o, dict))

    @classmethod
    def from_store(cls, store: SqlStore, collection: str = DISARM_COLLECTION) -> Catalogue:
        """From the current attack-patterns of ``collection``. DISARM is public reference
        data, read here for tagging, not shown to a caller: no policy narrowing applies."""
        try:
            collection_id = store.collection(collection)[0]
        except NotFound:
            raise NotFound(
                f"no collection {collection!r}: load DISARM first "
                f"(mburoja.disinfo.disarm.load_disarm, or `mburoja ingest DISARM.json "
                f"--collection {collection}`)"
            ) from None
        return cls.from_objects(stored_objects(store, collection_id, "attack-pattern"))

    @classmethod
    def required(cls, store: SqlStore) -> Catalogue:
        """The stored catalogue, for work that cannot go on without it (tagging a finding):
        ``ConfigError`` saying how to load DISARM when it is missing or empty."""
        try:
            catalogue = cls.from_store(store)
        except NotFound as err:
            raise ConfigError(
                f"{err}: load DISARM first with `mburoja disinfo disarm load DISARM.json`"
            ) from err
        if not len(catalogue):
            raise ConfigError(
                "no DISARM techniques in the store: load them first with"
                " `mburoja disinfo disarm load DISARM.json`"
            )
        return catalogue

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, disarm_id: object) -> bool:
        return isinstance(disarm_id, str) and normalise_id(disarm_id) in self._by_id

    def __iter__(self) -> Iterator[Technique]:
        return iter(self._by_id.values())

    def get(self, disarm_id: str) -> Technique | None:
        return self._by_id.get(normalise_id(disarm_id))

    def technique(self, disarm_id: str) -> Technique:
        """The technique with this DISARM id; ``NotFound`` when DISARM has none (an ATT&CK
        id such as ``T1566`` never resolves here)."""
        found = self.get(disarm_id)
        if found is None:
            raise NotFound(
                f"DISARM technique {disarm_id!r} is not in the catalogue "
                f"({len(self)} techniques loaded); DISARM ids look like T0084.001"
            )
        return found

    def stix_id(self, disarm_id: str) -> str:
        """DISARM id -> the id of the stored attack-pattern."""
        return self.technique(disarm_id).stix_id

    def tags(self, kind: str) -> tuple[Technique, ...]:
        """The techniques a finding of ``kind`` is tagged with."""
        return tuple(self.technique(t) for t in tags_for(kind))


def load_disarm(
    store: SqlStore,
    settings: Settings,
    path: Path,
    *,
    collection: str = DISARM_COLLECTION,
    actor: str = "disinfo",
) -> IngestReport:
    """Ingest DISARM's STIX bundle at ``path`` into ``collection``; returns the report (its
    rejects, if any, are quarantined with their reasons, as for any ingest). Loading the
    same bundle again changes nothing."""
    inp = read_file(path, settings.limits.max_input_bytes)
    items = read_stix(inp.data, inp.origin, settings.limits)
    return Ingestor(store, settings).run(
        items, source=f"disarm:{path.name}", actor=actor, collection=collection
    )


# --------------------------------------------------------------------------- suggestions


class Measurement(msgspec.Struct, frozen=True, kw_only=True):
    """How well the suggester did, measured by ``scripts/eval_disarm.py``."""

    precision_at_1: float
    recall_at_10: float
    random_precision_at_1: float
    random_recall_at_10: float
    #: distinct quoted passages scored, and the incidents they come from
    passages: int
    incidents: int
    method: str


#: Measured on the 62 DISARM incidents whose tables map quoted source text to techniques
#: (93 distinct passages, quoted text only); ``scripts/eval_disarm.py`` prints these figures
#: and ``tests/disinfo/test_disarm.py`` checks they are still what it measures.
MEASURED: Final = Measurement(
    precision_at_1=0.344,
    recall_at_10=0.433,
    random_precision_at_1=0.005,
    random_recall_at_10=0.024,
    passages=93,
    incidents=62,
    method="TF-IDF cosine, words + char 3-5-grams, name weighted x2, over 391 techniques",
)


class Suggestion(msgspec.Struct, frozen=True, kw_only=True):
    disarm_id: str
    stix_id: str
    name: str
    score: float


class Advice(msgspec.Struct, frozen=True, kw_only=True):
    """Suggested techniques, best first. Advisory only: never applied to a finding without
    an analyst; ``measured`` says how often the first suggestion is right."""

    suggestions: tuple[Suggestion, ...]
    advisory: bool = True
    measured: Measurement = MEASURED


_WORD: Final = re.compile(r"\w+")
_TAG: Final = re.compile(r"<[^>]+>")
#: English function words (DISARM's texts are English)
_STOP_WORDS: Final = (
    "a an and are as at be been but by can for from had has have in into is it its may more "
    "most not of on or other such than that the their them these they this those to was "
    "were which who will with would also"
)
_STOP: Final = frozenset(_STOP_WORDS.split())
#: character n-gram lengths, taken inside each word padded with spaces
CHAR_NGRAMS: Final = (3, 4, 5)
#: a technique's name counts this many times its description
NAME_WEIGHT: Final = 2


def features(text: str) -> Counter[str]:
    """Term counts of ``text``: its words (``w:`` prefix) and their character n-grams."""
    text = unicodedata.normalize("NFKC", html.unescape(_TAG.sub(" ", text))).casefold()
    words = [w for w in _WORD.findall(text) if w not in _STOP and not w.isdigit()]
    out: Counter[str] = Counter("w:" + w for w in words)
    for w in words:
        padded = f" {w} "
        for n in CHAR_NGRAMS:
            out.update(padded[i : i + n] for i in range(len(padded) - n + 1))
    return out


class Suggester:
    """Ranks DISARM techniques for a text by TF-IDF cosine similarity: sublinear term
    frequency, smoothed IDF over the techniques, one sparse matrix product per batch."""

    #: texts scored per matrix product (bounds the dense score block to BATCH x techniques)
    BATCH: Final = 2048

    def __init__(self, techniques: Iterable[Technique]) -> None:
        #: by DISARM id, so that a stable sort breaks score ties by id
        self.techniques = tuple(sorted(techniques, key=lambda t: t.disarm_id))
        docs: list[Counter[str]] = []
        for t in self.techniques:
            doc = Counter({k: v * NAME_WEIGHT for k, v in features(t.name).items()})
            doc.update(features(t.description))
            docs.append(doc)
        n = len(docs)
        df = Counter(term for doc in docs for term in doc)
        self._vocab = {term: i for i, term in enumerate(df)}
        self._idf = np.array([math.log((1 + n) / (1 + d)) + 1.0 for d in df.values()])
        #: terms x techniques, unit-length columns
        self._matrix = self._vectors(docs).T.tocsr()

    def _vectors(self, counts: Sequence[Counter[str]]) -> sparse.csr_matrix:
        """One unit-length TF-IDF row per text (terms outside the vocabulary dropped)."""
        rows: list[int] = []
        cols: list[int] = []
        tfs: list[float] = []
        vocab = self._vocab
        for r, terms in enumerate(counts):
            for term, c in terms.items():
                i = vocab.get(term)
                if i is not None:
                    rows.append(r)
                    cols.append(i)
                    tfs.append(1.0 + math.log(c))
        values = np.asarray(tfs, dtype=np.float64) * self._idf[np.asarray(cols, dtype=np.intp)]
        m = sparse.csr_matrix((values, (rows, cols)), shape=(len(counts), len(vocab)))
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sparse.csr_matrix(sparse.diags(1.0 / norms) @ m)

    def rank_many(self, texts: Sequence[str], limit: int = 10) -> list[list[Suggestion]]:
        """For each text, up to ``limit`` techniques with a positive score, best first (ties
        by DISARM id)."""
        out: list[list[Suggestion]] = []
        if not self.techniques:
            return [[] for _ in texts]
        for start in range(0, len(texts), self.BATCH):
            chunk = texts[start : start + self.BATCH]
            scores = (self._vectors([features(t) for t in chunk]) @ self._matrix).toarray()
            for row in scores:
                best = np.argsort(-row, kind="stable")[:limit]
                out.append(
                    [
                        Suggestion(
                            disarm_id=self.techniques[j].disarm_id,
                            stix_id=self.techniques[j].stix_id,
                            name=self.techniques[j].name,
                            score=round(float(row[j]), 4),
                        )
                        for j in best
                        if row[j] > 0
                    ]
                )
        return out

    def rank(self, text: str, limit: int = 10) -> list[Suggestion]:
        return self.rank_many([text], limit)[0]

    def suggest(self, text: str, limit: int = 10) -> Advice:
        """Advisory suggestions for ``text``, with the measured precision attached."""
        return Advice(suggestions=tuple(self.rank(text, limit)))


#: the languages the suggester was measured on (DISARM's texts are English); documents in
#: other languages get no suggestion rather than noise
SUGGEST_LANGUAGES: Final = frozenset({"en"})


def suggest_documents(
    documents: Sequence[Document], suggester: Suggester, limit: int = 10
) -> dict[str, Advice]:
    """Advisory suggestions for each English (or unidentified) document's lead (title and
    first paragraph), by document id: the stage the benchmark calls."""
    chosen = [d for d in documents if d.lang is None or d.lang in SUGGEST_LANGUAGES]
    ranked = suggester.rank_many([d.lead for d in chosen], limit)
    return {d.id: Advice(suggestions=tuple(r)) for d, r in zip(chosen, ranked, strict=True)}


__all__ = [
    "DISARM_COLLECTION",
    "DISARM_ID",
    "DISARM_IDENTITY",
    "KINDS",
    "MEASURED",
    "TAGS",
    "Advice",
    "Catalogue",
    "Measurement",
    "Suggester",
    "Suggestion",
    "Technique",
    "disarm_id_of",
    "features",
    "load_disarm",
    "suggest_documents",
    "tags_for",
]
