"""The main text of an article: from an HTML page (``trafilatura``) or from scraped text.

HTML pages go through ``trafilatura`` (main text, title, date, author; tables kept, comments
dropped), then through the same block filter as scraped text. Scraped text (what a crawler
saved of a page, such as ``../shared/data/context/``) still carries the page's furniture:
site names and navigation, box-drawn info boxes, contact blocks, "previous article" links,
related-news teasers. The filter reads the text as blocks (one per line) and drops:

* **furniture**: box-drawing frames (and what is inside them), lines with no letters,
  Markdown table rules, and short lines that are navigation words in any of the analysts'
  languages (``Contact``, ``About us``, ``Text size``, ``Прочитајте још``, ``Lexo më shumë``…),
  or start like one (``Previous …``, ``Next …``, ``Read more …``);
* **contact blocks**: short lines with a telephone, fax or e-mail, and runs of two or more
  short lines that end in commas (a postal address);
* **teasers**: a snippet cut off with ``...`` or ``…``, and the headline line right before it;
* **everything outside the article body**: the body runs from the first to the last *good*
  block (at least 5 words ending with a full stop, or at least 30 words), and on over credit lines
  right after it (``Source: …``, ``Izvor: …``, ``Источник: …``); short blocks inside it
  (headings, table rows, list items) stay, short blocks before or after it go.

The title of scraped text is the headline before the body: a short line that appears twice
there (page title and heading), else the last short line before the body.

The language is only a *hint* here (the page's ``lang`` attribute or ``Content-Language``,
as ISO 639-1, Latin-script ``sr``/``hr``/``bs`` as ``sh``); ``mburoja.disinfo.lang`` decides.
"""

# The navigation lexicon and the punctuation sets are meant to hold Cyrillic letters and
# typographic quotes and dashes.
# ruff: noqa: RUF001

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

from mburoja.disinfo.model import LATIN_SERBO_CROATIAN

# Blocks of at least this many words that end with a full stop, or of GOOD_WORDS_ANY words,
# are article prose.
GOOD_WORDS: Final = 5
GOOD_WORDS_ANY: Final = 30
#: A headline seen once before the body needs this many words to be taken as the title.
TITLE_MIN_WORDS: Final = 7
#: Lines up to this many words may be navigation, headlines or contact details.
SHORT_WORDS: Final = 15

_BOX: Final = re.compile(r"^[\u2500-\u259f]|[\u2500-\u259f]$")
_BOX_OPEN: Final = re.compile(r"^[\u250c\u250d\u250e\u250f\u2552\u2553\u2554\u256d]")
_BOX_CLOSE: Final = re.compile(r"^[\u2514\u2515\u2516\u2517\u2558\u2559\u255a\u2570]")
_SENTENCE_END: Final = re.compile(r"[.…][\"'”’»)\]]*$")
_ELLIPSIS: Final = re.compile(r"(?:\.\.\.|…)[\"'”’»)\]]*$")
_TABLE_RULE: Final = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?$")
_CONTACT: Final = re.compile(
    r"(?:\b(?:tel|phone|telephone|fax|e-?mail|mob|mobile|adresa|address|телефон|тел|факс|"
    r"адреса|адрес|е-пошта|имејл|пошта|cel|celular)\b\.?\s*[:.]|"
    r"[\w.+-]+@[\w-]+\.[\w.-]+|\+\d[\d ()/-]{7,})",
    re.IGNORECASE,
)
#: A credit line ("Source: …") right after the body is the article's, not the page's.
_ATTRIBUTION: Final = re.compile(
    r"^(?:source|sources|via|burimi|burim|izvor|izvori|извор|извори|източник|източници|"
    r"источник|источники)\s*:",
    re.IGNORECASE,
)
_WORD: Final = re.compile(r"\w+")
_SPACES: Final = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_TITLE_TAIL: Final = re.compile(r"\s*[-|–—:•·]+\s*$")

#: Whole short lines that are page furniture, lower-case, in en, sq, sh, sr, mk, bg, ru.
_FURNITURE: Final = frozenset(
    """
    about us|about|contact|contacts|contact us|home|menu|search|share|print|subscribe|
    newsletter|follow us|related|related news|related articles|read more|more news|
    latest news|latest|most read|popular|tags|comments|login|log in|sign in|register|
    privacy policy|terms of use|cookies|all rights reserved|advertisement|sponsored|
    skip to content|back to top|go to top|top|en|sq|sr|mk|bg|ru|english|
    rreth nesh|kontakt|kontakti|na kontaktoni|kryefaqja|ballina|kërko|lajme të ngjashme|
    lajme te ngjashme|lexo më shumë|lexo me shume|shpërndaje|shpërndaj|më të lexuarat|
    të fundit|te fundit|lajmet e fundit|
    o nama|kontakt|početna|pocetna|pretraga|povezane vesti|povezane vijesti|
    pročitajte još|procitajte jos|podeli|podijeli|najčitanije|najcitanije|najnovije|
    о нама|контакт|почетна|претрага|повезане вести|прочитајте још|подели|најчитаније|
    најновије|за нас|контакти|поврзани вести|прочитај повеќе|сподели|најчитани|
    начало|свързани новини|прочетете още|най-четени|последни новини|
    о нас|контакты|главная|поиск|похожие новости|читайте также|поделиться|
    самое читаемое|последние новости
    """.replace("\n", "").split("|")
)
#: How short furniture lines start: "Previous: …", "Next article …", "Text size Aa".
_FURNITURE_START: Final = re.compile(
    r"^(?:previous|next|read more|read also|see also|related:|tags:|share this|"
    r"text size|font size|posted in|filed under|copyright|©|all rights reserved|"
    r"follow us|subscribe|sign up|newsletter|read more news|more news on|photo:|"
    r"na ndiqni|lexoni më shumë|të gjitha të drejtat|pratite nas|više vesti|"
    r"sva prava|следете н|повеќе вести|сите права|пратите нас|више вести|сва права|"
    r"последвайте ни|прочетете още|всички права|подписывайтесь|читайте больше|все права|"
    r"paraardhës|paraardhese|pasardhës|më parë|lexo edhe|"
    r"prethodn|sledeć|sledec|sljedeć|pročitajte i|"
    r"претходн|следећ|прочитајте и|претходна|следна|"
    r"предишн|следващ|прочетете също|"
    r"предыдущ|следующ|читайте также)",
    re.IGNORECASE,
)
_LATIN_SH: Final = frozenset({"hr", "bs", "sh", "sr-latn", "hr-hr", "bs-ba", "sr-latn-rs"})


class Extracted(msgspec.Struct, frozen=True, kw_only=True):
    """What extraction found in one page: paragraphs separated by blank lines."""

    text: str
    title: str = ""
    #: publication time, epoch seconds (UTC)
    published: float | None = None
    author: str | None = None
    #: the page's own language hint as ISO 639-1 (``sh`` for Latin Serbo-Croatian)
    lang: str | None = None
    #: addresses the main text links to (HTML only)
    links: tuple[str, ...] = ()


# --------------------------------------------------------------------------- blocks

_GOOD, _SHORT, _BAD = "good", "short", "bad"


def _normalise_line(line: str) -> str:
    return _SPACES.sub(" ", unicodedata.normalize("NFC", line)).strip()


def _words(line: str) -> int:
    return len(_WORD.findall(line))


def _is_furniture(line: str, words: int) -> bool:
    if words > SHORT_WORDS:
        return False
    key = line.lower().strip(" .:;|-–—•·»«>")
    return key in _FURNITURE or _FURNITURE_START.match(key) is not None


def _classify(lines: Sequence[str]) -> list[str]:
    """One of good, short, bad for each line (see the module docstring)."""
    classes: list[str] = []
    in_box = False
    for line in lines:
        words = _words(line)
        if _BOX_OPEN.match(line):
            in_box = True
        if in_box or _BOX.search(line):
            classes.append(_BAD)
            if _BOX_CLOSE.match(line):
                in_box = False
            continue
        if (
            words == 0
            or _TABLE_RULE.match(line)
            or _is_furniture(line, words)
            or (words <= SHORT_WORDS and _CONTACT.search(line))
            or _ELLIPSIS.search(line)
        ):
            classes.append(_BAD)
        elif words >= GOOD_WORDS_ANY or (words >= GOOD_WORDS and _SENTENCE_END.search(line)):
            classes.append(_GOOD)
        else:
            classes.append(_SHORT)
    # A teaser's headline is the line before its cut-off snippet; an address is a run of
    # short lines ending in commas.
    for i, line in enumerate(lines):
        if (
            _ELLIPSIS.search(line)
            and i > 0
            and classes[i - 1] != _BAD
            and (_words(lines[i - 1]) <= SHORT_WORDS or classes[i - 1] == _SHORT)
        ):
            classes[i - 1] = _BAD
        if classes[i] == _SHORT and line.endswith(","):
            j = i
            while j < len(lines) and classes[j] == _SHORT and _words(lines[j]) <= SHORT_WORDS:
                j += 1
            if j - i >= 2 or (j < len(lines) and i > 0 and lines[i - 1].endswith(",")):
                for k in range(i, min(j + 1, len(lines))):
                    if classes[k] == _SHORT:
                        classes[k] = _BAD
    return classes


def _title(lines: Sequence[str], classes: Sequence[str], first_good: int) -> str:
    candidates = [
        _TITLE_TAIL.sub("", lines[i])
        for i in range(first_good)
        if classes[i] == _SHORT and 3 <= _words(lines[i]) <= 30
    ]
    for i, text in enumerate(candidates):
        if text in candidates[i + 1 :]:
            return text
    # A lone short line is a headline only if long enough: shorter ones before the body are
    # more often the site's or the section's name.
    if candidates and _words(candidates[-1]) >= TITLE_MIN_WORDS:
        return candidates[-1]
    return ""


def clean_text(text: str) -> tuple[str, str]:
    """The article body of scraped ``text`` (paragraphs separated by a blank line) and the
    title found before it ("" when none)."""
    lines = [n for n in (_normalise_line(raw) for raw in text.splitlines()) if n]
    classes = _classify(lines)
    good = [i for i, c in enumerate(classes) if c == _GOOD]
    if not good:
        return "", ""
    first, last = good[0], good[-1]
    while (
        last + 1 < len(lines)
        and classes[last + 1] == _SHORT
        and _ATTRIBUTION.match(lines[last + 1])
    ):
        last += 1
    kept: list[str] = []
    seen: set[str] = set()
    for i in range(first, last + 1):
        line = lines[i]
        if classes[i] == _BAD or line in seen:
            continue
        seen.add(line)
        if line.startswith("|") and line.endswith("|"):
            line = " | ".join(cell.strip() for cell in line.strip("|").split("|"))
        kept.append(line)
    return "\n\n".join(kept), _title(lines, classes, first)


def extract_text(text: str) -> Extracted:
    """The main text and title of scraped plain text."""
    body, title = clean_text(text)
    return Extracted(text=body, title=title)


# --------------------------------------------------------------------------- HTML

_HTML_LANG: Final = re.compile(
    rb"<html\b[^>]*?\blang\s*=\s*[\"']?([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*)", re.I
)
_META_LANG: Final = re.compile(
    rb"<meta\b[^>]*?http-equiv\s*=\s*[\"']?content-language[\"']?[^>]*?content\s*=\s*"
    rb"[\"']?([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*)",
    re.I,
)
_DATE_PARAMS: Final = {
    "extensive_search": False,
    "original_date": True,
    "outputformat": "%Y-%m-%dT%H:%M:%S%z",
}


def normalise_lang(tag: str | None, text: str = "") -> str | None:
    """A language tag (``en-US``, ``sr_Latn``, ``sr``) as the ISO 639-1 code the detectors
    use. Croatian, Bosnian and Latin-script Serbian are ``sh``; ``sr`` on a text mostly in
    Latin letters is ``sh`` too. None for an empty or malformed tag."""
    if not tag:
        return None
    key = tag.strip().lower().replace("_", "-")
    primary = key.split("-", 1)[0]
    if not primary.isalpha() or not 2 <= len(primary) <= 3:
        return None
    if key in _LATIN_SH or primary in ("hr", "bs", "sh") or key.startswith("sr-latn"):
        return LATIN_SERBO_CROATIAN
    if primary == "sr" and text and _mostly_latin(text):
        return LATIN_SERBO_CROATIAN
    return primary if len(primary) == 2 else None


def _mostly_latin(text: str) -> bool:
    sample = text[:2000]
    cyrillic = sum(1 for ch in sample if "\u0400" <= ch <= "\u04ff")
    latin = sum(1 for ch in sample if (ch.isascii() and ch.isalpha()) or "\u00c0" <= ch <= "\u024f")
    return latin > cyrillic


def html_lang(html: bytes, headers_lang: str | None = None) -> str | None:
    """The raw language tag a page declares: ``<html lang>``, else ``Content-Language``."""
    head = html[:16384]
    for pattern in (_HTML_LANG, _META_LANG):
        found = pattern.search(head)
        if found:
            return found.group(1).decode("ascii")
    if headers_lang:
        return headers_lang.split(",", 1)[0].strip() or None
    return None


def _epoch(date: str | None) -> float | None:
    if not date:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            moment = datetime.strptime(date, fmt)
        except ValueError:
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    return None


def _links(body: Any, text: str) -> tuple[str, ...]:
    """The http(s) targets of the links whose anchor text is in the kept ``text`` (a link in
    a dropped line, such as a share button, is dropped with it)."""
    if body is None:
        return ()
    found: dict[str, None] = {}
    for ref in body.iter("ref"):
        target = ref.get("target")
        anchor = _normalise_line("".join(ref.itertext()))
        if target and target.startswith(("http://", "https://")) and anchor in text:
            found[target] = None
    return tuple(found)


def extract_html(
    html: bytes | str, url: str | None = None, *, content_language: str | None = None
) -> Extracted:
    """The main text and metadata of an HTML page (``url`` resolves relative links).
    ``content_language`` is the response's ``Content-Language`` header, if any."""
    import trafilatura  # heavy: loaded on first use only

    data = html.encode("utf-8") if isinstance(html, str) else html
    found = trafilatura.bare_extraction(
        data,
        url=url,
        include_comments=False,
        include_tables=True,
        include_links=True,
        with_metadata=True,
        date_extraction_params=dict(_DATE_PARAMS),
    )
    if found is None or isinstance(found, dict):
        return Extracted(text="", lang=normalise_lang(html_lang(data, content_language)))
    title = _normalise_line(found.title or "")
    raw_text = found.text or ""
    # trafilatura writes one element per line; an inline link may add "[text](url)".
    body, _ = clean_text(_unlink(raw_text))
    if title and body.startswith(title):
        body = body[len(title) :].lstrip("\n")
    return Extracted(
        text=body,
        title=title,
        published=_epoch(found.date),
        author=_normalise_line(found.author) if found.author else None,
        lang=normalise_lang(html_lang(data, content_language), body),
        links=_links(found.body, body),
    )


_MD_LINK: Final = re.compile(r"\[([^\]\n]*)\]\((?:[^()\s]|\([^()\s]*\))*\)")


def _unlink(text: str) -> str:
    return _MD_LINK.sub(r"\1", text)


def extract_pages(pages: Iterable[tuple[str | None, bytes]]) -> list[Extracted]:
    """:func:`extract_html` over ``(url, html)`` pairs: the extraction stage as one call."""
    return [extract_html(html, url) for url, html in pages]
