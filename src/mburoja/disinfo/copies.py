"""Copy-paste networks: near-verbatim copies, rewrites and cross-language copies.

**Within a language** (:func:`clusters`). A text becomes the set of its word ``k``-shingles,
after normalisation (NFKC, lower case, words are ``\\w+`` runs, so punctuation goes). Each
shingle is hashed (64 bits, deterministic); the sets are sketched as datasketch MinHash
signatures (scheme ``affine32``: exactly what ``MinHash(num_perm, seed).update_batch`` gives
for the shingle hashes' low 32 bits, computed with numpy for all documents at once), and
banded as ``datasketch.MinHashLSH(params=(bands, rows))`` does, also vectorised. Every
candidate pair is verified with the *exact* Jaccard of the shingle sets before it links two
documents. Links at or above ``rewrite`` form the clusters (union-find); links at or above
``verbatim`` form each cluster's near-verbatim groups. One LSH serves both levels: its
bands are tuned for the lower threshold, and a pair above the higher one is a candidate
with still higher probability.

For each cluster: the members, patient zero (the earliest publication; unknown times last,
ties by id), the outlets, the spread timeline (each outlet's first copy), and the links that
joined it (the evidence).

**Across languages** (:func:`analyse`), within ``window_s`` of each other:

* *transliteration*: Serbian Cyrillic text is transliterated to Latin and compared, by the
  same MinHash and exact Jaccard, with the Latin documents (the same text in both scripts);
* *anchors*: a translation keeps names, figures and links. Each document's anchors (numbers
  of three or more digits, links, capitalised words inside a sentence, folded to ASCII and
  cut to five letters so that case endings and scripts agree) are pooled per cluster; two
  clusters in different languages sharing at least ``min_anchors`` rare anchors (in at most
  ``anchor_max_groups`` clusters), ``min_figures`` of them numbers or links, that make at
  least ``anchor_overlap`` of the smaller set, are a cross-language copy.

The anchor method needs no dictionary or model, and so it cannot see a translation that
drops or rewrites the figures and names, nor tell a translation from an independent report
of the same event that quotes the same figures (see docs/disinfo/copies.md).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from hashlib import blake2b
from typing import Final

import msgspec
import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

from mburoja.disinfo import lang as lang_id
from mburoja.disinfo.model import Document

NEAR_VERBATIM: Final = "near-verbatim"
REWRITE: Final = "rewrite"
TRANSLITERATION: Final = "transliteration"
ANCHORS: Final = "anchors"

_WORD: Final = re.compile(r"\w+")
_U32: Final = np.uint64(0xFFFFFFFF)
_MIX: Final = np.uint64(0x9E3779B97F4A7C15)
_CHUNK: Final = 1 << 16  # shingles per block of the MinHash loop (fits in L2)


class CopySettings(msgspec.Struct, frozen=True, kw_only=True):
    #: words per shingle
    k: int = 3
    #: texts with fewer words are not compared
    min_words: int = 12
    num_perm: int = 128
    seed: int = 1
    #: LSH bands and rows per band (``bands * rows <= num_perm``)
    bands: int = 42
    rows: int = 3
    #: buckets larger than this link each member to the first and the previous one only
    max_bucket: int = 40
    #: exact Jaccard for a near-verbatim link, and for a rewrite link
    verbatim: float = 0.8
    rewrite: float = 0.5
    #: cross-language copies: the largest gap between the two publications
    window_s: float = 3 * 86400.0
    min_anchors: int = 3
    #: of which numbers or links (names alone say "the same topic", not "the same text")
    min_figures: int = 1
    anchor_overlap: float = 0.5
    anchor_max_groups: int = 12

    def __post_init__(self) -> None:
        if self.bands * self.rows > self.num_perm or min(self.bands, self.rows) < 1:
            raise ValueError("bands * rows must be at most num_perm")
        if not 0.0 < self.rewrite <= self.verbatim <= 1.0:
            raise ValueError("need 0 < rewrite <= verbatim <= 1")
        if self.min_words < self.k or self.k < 1:
            raise ValueError("need 1 <= k <= min_words")


class Link(msgspec.Struct, frozen=True, array_like=True):
    """A verified pair: the two document ids and their exact Jaccard."""

    a: str
    b: str
    jaccard: float


class Member(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    source: str
    published: float | None
    #: exact Jaccard to patient zero
    jaccard: float


class Spread(msgspec.Struct, frozen=True, kw_only=True):
    """An outlet's first copy in a cluster."""

    source: str
    id: str
    published: float | None


class CopyCluster(msgspec.Struct, frozen=True, kw_only=True):
    #: ``near-verbatim`` when every member is in one near-verbatim group, else ``rewrite``
    level: str
    #: the first publication (its id names the cluster)
    patient_zero: str
    first_source: str
    #: by publication time
    members: tuple[Member, ...]
    outlets: tuple[str, ...]
    timeline: tuple[Spread, ...]
    #: the near-verbatim groups of two or more members
    groups: tuple[tuple[str, ...], ...]
    #: the verified links that joined the members
    links: tuple[Link, ...]


class CrossLanguageCopy(msgspec.Struct, frozen=True, kw_only=True):
    """The same story in two languages: ``source`` and ``copy`` are the patient zeros of
    their clusters (or the documents themselves when not in one)."""

    source: str
    copy: str
    source_lang: str | None
    copy_lang: str | None
    #: ``transliteration`` or ``anchors``
    method: str
    #: transliteration: exact Jaccard; anchors: the shared share of the smaller anchor set
    score: float
    lag_s: float
    #: anchors: the shared ones (``n:`` number, ``u:`` link, ``e:`` name)
    shared: tuple[str, ...] = ()


class CopyReport(msgspec.Struct, frozen=True, kw_only=True):
    clusters: tuple[CopyCluster, ...]
    cross_language: tuple[CrossLanguageCopy, ...]
    documents: int
    #: candidate pairs from LSH, and exact Jaccards computed
    candidates: int
    verified: int


# --------------------------------------------------------------------------- shingles


def words(text: str) -> list[str]:
    """The normalised words of ``text``: NFKC, lower case, ``\\w+`` runs."""
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return _WORD.findall(text.lower())


class Shingles:
    """The shingle hashes of many texts: ``values[offsets[i]:offsets[i + 1]]`` are text
    ``i``'s, in text order (texts under ``min_words`` have none)."""

    def __init__(self, texts: Sequence[str], settings: CopySettings) -> None:
        k, cache = settings.k, dict[str, int]()
        get = cache.get
        flat: list[int] = []
        lens = np.zeros(len(texts), dtype=np.int64)
        for i, text in enumerate(texts):
            ws = words(text)
            if len(ws) >= settings.min_words:
                flat += [get(w) or _word_hash(w, cache) for w in ws]
                lens[i] = len(ws)
        h = np.array(flat, dtype=np.uint64)
        m = max(len(h) - k + 1, 0)
        s = h[:m].copy()
        for j in range(1, k):
            s = s * _MIX + h[j : m + j]
        s = _fmix64(s)
        starts = np.cumsum(lens) - lens
        doc = np.repeat(np.arange(len(texts)), lens)[:m]
        keep = np.arange(m) - starts[doc] <= lens[doc] - k
        self.values = s[keep]
        counts = np.bincount(doc[keep], minlength=len(texts))
        self.offsets = np.concatenate(([0], np.cumsum(counts)))
        self._sets: dict[int, np.ndarray] = {}

    def count(self, i: int) -> int:
        return int(self.offsets[i + 1] - self.offsets[i])

    def set(self, i: int) -> np.ndarray:
        """Text ``i``'s shingles as a sorted array without repeats."""
        found = self._sets.get(i)
        if found is None:
            found = self._sets[i] = np.unique(self.values[self.offsets[i] : self.offsets[i + 1]])
        return found


def _word_hash(word: str, cache: dict[str, int]) -> int:
    """64 bits of BLAKE2b, odd (never 0, so that a cached value is always true)."""
    digest = blake2b(word.encode(), digest_size=8).digest()
    value = cache[word] = int.from_bytes(digest, "little") | 1
    return value


def _fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's finaliser, as datasketch's ``affine32`` scheme applies it."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    if not len(a) or not len(b):
        return 0.0
    if len(a) > len(b):
        a, b = b, a
    at = np.searchsorted(b, a)
    inter = int(np.count_nonzero(b[np.minimum(at, len(b) - 1)] == a))
    return inter / (len(a) + len(b) - inter)


def jaccard(a: str, b: str, settings: CopySettings | None = None) -> float:
    """Exact Jaccard of the normalised word shingles of two texts (0 when either is under
    ``min_words``)."""
    shingles = Shingles([a, b], settings or CopySettings())
    return _jaccard(shingles.set(0), shingles.set(1))


# --------------------------------------------------------------------------- MinHash, LSH


@lru_cache(maxsize=8)
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = MinHash(num_perm=num_perm, seed=seed).permutations
    return np.asarray(a, dtype=np.uint32), np.asarray(b, dtype=np.uint32)


def signatures(shingles: Shingles, settings: CopySettings) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, sig)``: the texts with shingles, and their MinHash signatures, one column
    each (``num_perm`` rows): equal to datasketch's ``MinHash(num_perm, seed)`` updated with
    each shingle hash's low 32 bits. Computed a permutation at a time over blocks of
    shingles, so that numpy's loops run in cache; a permutation over a block's texts is one
    ``minimum.reduceat``."""
    a, b = _permutations(settings.num_perm, settings.seed)
    rows = np.flatnonzero(np.diff(shingles.offsets) > 0)
    sig = np.empty((settings.num_perm, len(rows)), dtype=np.uint32)
    starts, ends = shingles.offsets[rows], shingles.offsets[rows + 1]
    lo = 0
    while lo < len(rows):
        hi = max(int(np.searchsorted(ends, starts[lo] + _CHUNK, side="right")), lo + 1)
        # the texts without shingles have none to skip: the block is one slice
        hv = _fmix32((shingles.values[starts[lo] : ends[hi - 1]] & _U32).astype(np.uint32))
        cut = starts[lo:hi] - starts[lo]
        buf = np.empty_like(hv)
        for p in range(settings.num_perm):
            np.multiply(hv, a[p], out=buf)
            buf += b[p]
            sig[p, lo:hi] = np.minimum.reduceat(buf, cut)
        lo = hi
    return rows, sig


def minhash(text: str, settings: CopySettings | None = None) -> LeanMinHash:
    """One text's signature as a datasketch ``LeanMinHash`` (for ``MinHashLSH`` queries)."""
    settings = settings or CopySettings()
    shingles = Shingles([text], settings)
    if not shingles.count(0):
        raise ValueError(f"text has fewer than {settings.min_words} words")
    sig = signatures(shingles, settings)[1][:, 0]
    return LeanMinHash(seed=settings.seed, hashvalues=sig, scheme="affine32")


def index(docs: Sequence[Document], settings: CopySettings | None = None) -> MinHashLSH:
    """A datasketch ``MinHashLSH`` of the documents (keys: ids) with the bands
    :func:`clusters` uses, for incremental queries with :func:`minhash`."""
    settings = settings or CopySettings()
    shingles = Shingles([_text(d) for d in docs], settings)
    rows, sig = signatures(shingles, settings)
    lsh = MinHashLSH(num_perm=settings.num_perm, params=(settings.bands, settings.rows))
    with lsh.insertion_session() as session:
        for col, i in enumerate(rows):
            m = LeanMinHash(seed=settings.seed, hashvalues=sig[:, col], scheme="affine32")
            session.insert(docs[i].id, m)
    return lsh


def candidates(sig: np.ndarray, settings: CopySettings) -> np.ndarray:
    """Column pairs ``(i, j)``, ``i < j``, that share a band of ``rows`` values: those
    ``MinHashLSH(params=(bands, rows))`` returns (a bucket larger than ``max_bucket`` gives
    a chain and a star instead of all its pairs)."""
    n = sig.shape[1]
    found: list[np.ndarray] = []
    for band in range(settings.bands):
        block = sig[band * settings.rows : (band + 1) * settings.rows].astype(np.uint64)
        key = block[0].copy()
        for row in block[1:]:
            key = key * _MIX + row
        order = np.argsort(key, kind="stable")
        sk = key[order]
        new = np.ones(n, dtype=bool)
        new[1:] = sk[1:] != sk[:-1]
        run = np.cumsum(new) - 1
        length = np.bincount(run)[run]
        if n < 2 or length.max() < 2:
            continue
        small = length <= settings.max_bucket
        for d in range(1, int(min(length.max(), settings.max_bucket))):
            same = (run[:-d] == run[d:]) & small[:-d]
            found.append(np.stack((order[:-d][same], order[d:][same]), axis=1))
        big = ~small
        if big.any():
            first = order[np.flatnonzero(new)[run]]
            chain = (run[:-1] == run[1:]) & big[:-1]
            found.append(np.stack((order[:-1][chain], order[1:][chain]), axis=1))
            star = big & ~new
            found.append(np.stack((first[star], order[star]), axis=1))
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    pairs = np.sort(np.concatenate(found).astype(np.int64), axis=1)
    codes = np.unique(pairs[:, 0] * n + pairs[:, 1])
    return np.stack((codes // n, codes % n), axis=1)


# --------------------------------------------------------------------------- clusters


class _Forest:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def _text(doc: Document) -> str:
    return doc.text or doc.title


def _when(doc: Document) -> tuple[float, str]:
    return (doc.published if doc.published is not None else float("inf"), doc.id)


@dataclass
class _Clustering:
    clusters: list[CopyCluster]
    group_of: list[int]  # each document's cluster index, -1 when in none
    shingles: Shingles
    sig: np.ndarray
    rows: np.ndarray
    candidates: int
    verified: int


def _cluster(docs: Sequence[Document], settings: CopySettings) -> _Clustering:
    shingles = Shingles([_text(d) for d in docs], settings)
    rows, sig = signatures(shingles, settings)
    pairs = rows[candidates(sig, settings)] if len(rows) else np.empty((0, 2), dtype=np.int64)
    rewrite, verbatim = _Forest(len(docs)), _Forest(len(docs))
    links: list[tuple[int, int, float]] = []
    verified = 0
    for i, j in pairs.tolist():
        if verbatim.find(i) == verbatim.find(j):
            continue  # the link would change neither level
        joined = rewrite.find(i) == rewrite.find(j)
        verified += 1
        value = _jaccard(shingles.set(i), shingles.set(j))
        if value >= settings.verbatim:
            verbatim.union(i, j)
        elif joined or value < settings.rewrite:
            continue
        rewrite.union(i, j)
        links.append((i, j, value))
    members: dict[int, list[int]] = {}
    for i in range(len(docs)):
        members.setdefault(rewrite.find(i), []).append(i)
    evidence: dict[int, list[Link]] = {}
    for i, j, value in links:
        evidence.setdefault(rewrite.find(i), []).append(
            Link(docs[i].id, docs[j].id, round(value, 4))
        )
    roots = [root for root, m in members.items() if len(m) > 1]
    roots.sort(key=lambda root: min(_when(docs[i]) for i in members[root]))
    found = [_describe(docs, members[r], shingles, verbatim, evidence[r]) for r in roots]
    number = {root: n for n, root in enumerate(roots)}
    group_of = [number.get(rewrite.find(i), -1) for i in range(len(docs))]
    return _Clustering(found, group_of, shingles, sig, rows, len(pairs), verified)


def _describe(
    docs: Sequence[Document],
    ids: list[int],
    shingles: Shingles,
    verbatim: _Forest,
    links: list[Link],
) -> CopyCluster:
    ordered = sorted(ids, key=lambda i: _when(docs[i]))
    zero = shingles.set(ordered[0])
    members = tuple(
        Member(id=d.id, source=d.source, published=d.published, jaccard=round(_jaccard(zero, s), 4))
        for d, s in ((docs[i], shingles.set(i)) for i in ordered)
    )
    timeline: dict[str, Spread] = {}
    near: dict[int, list[str]] = {}
    for m, i in zip(members, ordered, strict=True):
        timeline.setdefault(m.source, Spread(source=m.source, id=m.id, published=m.published))
        near.setdefault(verbatim.find(i), []).append(m.id)
    return CopyCluster(
        level=NEAR_VERBATIM if len(near) == 1 else REWRITE,
        patient_zero=members[0].id,
        first_source=members[0].source,
        members=members,
        outlets=tuple(sorted(timeline)),
        timeline=tuple(timeline.values()),
        groups=tuple(tuple(g) for g in near.values() if len(g) > 1),
        links=tuple(links),
    )


def clusters(docs: Sequence[Document], settings: CopySettings | None = None) -> list[CopyCluster]:
    """The copy-paste clusters among ``docs`` (within a language), ordered by patient zero's
    publication."""
    return _cluster(docs, settings or CopySettings()).clusters


# --------------------------------------------------------------------------- across languages

_UPPER: Final = "".join(c for c in map(chr, range(0x41, 0x530)) if c.isupper())
_LINK: Final = re.compile(r"https?://[^\s<>\"']+")
#: a run of digits and group separators (split into numbers by :func:`_numbers`)
_DIGITS: Final = re.compile(r"\d[\d.,\u00a0 ]*")
_SEPARATOR: Final = re.compile(r"[.,\u00a0 ]+")
#: a capitalised word after a word, a comma or a semicolon: inside a sentence
_NAME: Final = re.compile(rf"(?<=[\w,;] )[{_UPPER}][^\W\d_]{{3,}}")
_RANK: Final = {ANCHORS: 0, TRANSLITERATION: 1}


def anchors(doc: Document, names: dict[str, str] | None = None) -> set[str]:
    """What a translation of ``doc`` keeps: ``n:`` numbers of three or more digits (group
    separators dropped), ``u:`` links (scheme dropped), ``e:`` capitalised words inside a
    sentence, folded to ASCII and cut to five letters (``names`` caches the folding)."""
    text, names = _text(doc), {} if names is None else names
    out = {"u:" + _link(u) for u in doc.urls}
    if "://" in text:
        out.update("u:" + _link(u) for u in _LINK.findall(text))
    for run in _DIGITS.findall(text):
        run = run.rstrip(" .,\u00a0")
        numbers = (run,) if run.isdigit() else _numbers(run)
        out.update("n:" + n for n in numbers if len(n) > 2)
    for name in _NAME.findall(text):
        key = names.get(name)
        if key is None:
            folded = lang_id.fold(name)
            key = names[name] = "e:" + folded[:5] if len(folded) >= 4 else ""
        if key:
            out.add(key)
    return out


def _link(url: str) -> str:
    return url.split("://", 1)[-1].lower().rstrip(".,;:!?)/")


def _numbers(run: str) -> list[str]:
    """The numbers in a run of digits and separators: a group of exactly three digits after
    one separator continues the number before it (``3.400``, ``3,400``, ``3 400``)."""
    out: list[str] = []
    separators = ["", *_SEPARATOR.findall(run)]
    for part, separator in zip(_SEPARATOR.split(run), separators, strict=True):
        if out and len(part) == 3 and len(separator) == 1:
            out[-1] += part
        else:
            out.append(part)
    return out


class _Stories:
    """The units compared across languages: each cluster, and each document in none, with
    its patient zero (or itself) as its head; and the copies found between them."""

    def __init__(self, docs: Sequence[Document], done: _Clustering, settings: CopySettings):
        self.docs, self.settings = docs, settings
        self.langs = [d.lang for d in docs]
        unknown = [i for i, code in enumerate(self.langs) if code is None]
        found = lang_id.identify_many([_text(docs[i]) for i in unknown])
        for i, code in zip(unknown, found, strict=True):
            self.langs[i] = code
        position = {d.id: i for i, d in enumerate(docs)}
        count = len(done.clusters)
        self.of = [g if g >= 0 else count + i for i, g in enumerate(done.group_of)]
        self.head = {g: position[c.patient_zero] for g, c in enumerate(done.clusters)}
        for i, g in enumerate(self.of):
            self.head.setdefault(g, i)
        self.found: dict[tuple[int, int], CrossLanguageCopy] = {}

    def lang(self, story: int) -> str | None:
        return self.langs[self.head[story]]

    def offer(self, a: int, b: int, how: str, score: float, shared: tuple[str, ...] = ()) -> None:
        """Record stories ``a`` and ``b`` as one, the earlier as the source, when their heads
        are in different languages within the window (a transliteration beats anchors; a
        higher score, a lower one)."""
        docs = self.docs
        first, then = sorted((self.head[a], self.head[b]), key=lambda i: _when(docs[i]))
        t0, t1 = docs[first].published, docs[then].published
        if a == b or t0 is None or t1 is None or t1 - t0 > self.settings.window_s:
            return
        if how == ANCHORS and self.langs[first] == self.langs[then]:
            return
        old = self.found.get((min(a, b), max(a, b)))
        if old is not None and (_RANK[old.method], old.score) >= (_RANK[how], score):
            return
        self.found[(min(a, b), max(a, b))] = CrossLanguageCopy(
            source=docs[first].id,
            copy=docs[then].id,
            source_lang=self.langs[first],
            copy_lang=self.langs[then],
            method=how,
            score=round(score, 4),
            lag_s=t1 - t0,
            shared=shared,
        )


def _transliterated(stories: _Stories, done: _Clustering, settings: CopySettings) -> None:
    """Serbian Cyrillic documents (``sr``) transliterated to Latin, against the documents in
    the Latin-script languages: the same MinHash bands, then the exact Jaccard."""
    docs, langs = stories.docs, stories.langs
    cyrillic = [i for i, code in enumerate(langs) if code == "sr"]
    others = (*lang_id.CYRILLIC_LANGUAGES, None)
    latin = [col for col, i in enumerate(done.rows) if langs[i] not in others]
    if not cyrillic or not latin:
        return
    translit = Shingles([lang_id.transliterate(_text(docs[i])) for i in cyrillic], settings)
    live, sig = signatures(translit, settings)
    both = np.concatenate((done.sig[:, latin], sig), axis=1)
    for a, b in candidates(both, settings).tolist():
        if a < len(latin) <= b:
            i, t = int(done.rows[latin[a]]), int(live[b - len(latin)])
            value = _jaccard(done.shingles.set(i), translit.set(t))
            if value >= settings.rewrite:
                stories.offer(stories.of[i], stories.of[cyrillic[t]], TRANSLITERATION, value)


def _anchored(stories: _Stories, settings: CopySettings) -> None:
    """Stories in different languages that share enough rare anchors."""
    pooled: dict[int, set[str]] = {}
    names: dict[str, str] = {}
    for i, doc in enumerate(stories.docs):
        pooled.setdefault(stories.of[i], set()).update(anchors(doc, names))
    postings: dict[str, list[int]] = {}
    for story, keys in pooled.items():
        for key in keys:
            postings.setdefault(key, []).append(story)
    rare = {k: s for k, s in postings.items() if 1 < len(s) <= settings.anchor_max_groups}
    shared: dict[tuple[int, int], list[str]] = {}
    for key, holders in rare.items():
        for x, a in enumerate(holders):
            for b in holders[x + 1 :]:
                la, lb = stories.lang(a), stories.lang(b)
                if la and lb and la != lb:  # two known languages
                    shared.setdefault((a, b), []).append(key)
    sizes: dict[int, int] = {}

    def size(story: int) -> int:  # its rare anchors
        if story not in sizes:
            sizes[story] = sum(key in rare for key in pooled[story])
        return sizes[story]

    for (a, b), common in shared.items():
        figures = sum(not key.startswith("e:") for key in common)
        if len(common) >= settings.min_anchors and figures >= settings.min_figures:
            smaller = min(size(a), size(b))
            if len(common) / smaller >= settings.anchor_overlap:
                stories.offer(a, b, ANCHORS, len(common) / smaller, tuple(sorted(common)))


def analyse(docs: Sequence[Document], settings: CopySettings | None = None) -> CopyReport:
    """Clusters within a language and copies across languages."""
    settings = settings or CopySettings()
    done = _cluster(docs, settings)
    stories = _Stories(docs, done, settings)
    _transliterated(stories, done, settings)
    _anchored(stories, settings)
    position = {d.id: i for i, d in enumerate(docs)}
    found = sorted(stories.found.values(), key=lambda c: (_when(docs[position[c.source]]), c.copy))
    return CopyReport(
        clusters=tuple(done.clusters),
        cross_language=tuple(found),
        documents=len(docs),
        candidates=done.candidates,
        verified=done.verified,
    )
