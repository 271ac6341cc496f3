"""What the counter-disinformation detectors share: a document (an article or a post) and the
language groups.

Every detector (copies, coordination, narratives) takes :class:`Document` values and names
them by ``id``, the STIX id of the stored object (see :mod:`mburoja.disinfo.objects`), so a
finding can reference exactly what it is about.
"""

from __future__ import annotations

from typing import Final

import msgspec

ARTICLE: Final = "article"
POST: Final = "post"

#: Serbian, Croatian and Bosnian in Latin script: no detector separates them reliably, so
#: they are one group under the ISO 639-1 code of the macrolanguage.
LATIN_SERBO_CROATIAN: Final = "sh"
#: the languages the analysts read, with that group
LANGUAGES: Final = ("sq", "sh", "sr", "mk", "bg", "ru", "en")


class Document(msgspec.Struct, kw_only=True, frozen=True):
    """An article or a post, as every detector sees it."""

    #: the STIX id of its stored object
    id: str
    #: ``article`` or ``post``
    kind: str
    #: who published it: the outlet's host name (``example.rs``) or the account id
    source: str
    #: the outlet's or account's display name
    source_name: str | None = None
    url: str | None = None
    title: str = ""
    #: the main text, boilerplate removed
    text: str = ""
    #: publication time, epoch seconds (UTC)
    published: float | None = None
    #: ISO 639-1 (``sh`` for Latin Serbian/Croatian/Bosnian), None when unknown
    lang: str | None = None
    author: str | None = None
    #: links the text carries (posts: the shared URLs)
    urls: tuple[str, ...] = ()
    #: posts: the post this one replies to or reposts (platform ids)
    reply_to: str | None = None
    repost_of: str | None = None
    #: sha256 of the raw content as fetched (hex)
    content_hash: str | None = None

    @property
    def lead(self) -> str:
        """Title and first paragraph: what a semantic embedder reads (whole articles are
        too slow to embed and dilute the claim)."""
        first = self.text.strip().split("\n\n", 1)[0][:600]
        return f"{self.title}\n{first}".strip() if self.title else first
