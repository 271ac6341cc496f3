"""Articles and posts as STIX 2.1 objects, and back.

An article and a social post are each a custom cyber-observable (SCO) type defined through an
``extension-definition`` (STIX 2.1 §7.3, ``extension_type: new-sco``):

* ``mburoja-article``: a web article of an outlet (``outlet`` is its host name);
* ``mburoja-post``: a post of a social account (``account_id``, ``account_name``).

Why an SCO and not an SDO: an article is something *observed* on the network, like a URL or a
file, not an assertion of ours; SCO ids are deterministic (UUIDv5 of the ID-contributing
properties, §2.9), so re-fetching the same article, here or at an ally's instance, mints the
same id; and the store versions SCOs by content, so a re-fetch with the same content is
"unchanged" and an edited article becomes a new version of the same object. The
ID-contributing properties are ``url`` (the canonical URL; ``hashes`` for an article without
one) for articles and ``platform`` plus ``post_id`` for posts.

Every address an article or post carries is also a ``url`` SCO (ids per §2.9) that the object
references: its own ``url_ref`` and the ``link_refs`` of the links in its text (a post's shared
URLs), so a URL search finds them. The raw content's SHA-256 is kept in ``hashes``.

The mapping is exact both ways: ``document_of(article_objects(doc)[0]) == doc`` (publication
times keep every digit of the float). URLs are stored as the ``Document`` carries them;
canonicalising them (:func:`canonical_url`) is for whoever builds the ``Document``.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Final

import orjson

from mburoja.disinfo.model import ARTICLE, POST, Document
from mburoja.errors import InputFormatError
from mburoja.stix.identifiers import sco_id, uuid5_id

ARTICLE_TYPE: Final = "mburoja-article"
POST_TYPE: Final = "mburoja-post"
#: The fixed identity that defines Mburoja's extensions: the same everywhere, so that every
#: instance mints the same extension-definition objects and allies see one definition.
MBUROJA_IDENTITY: Final = uuid5_id("identity", b"mburoja")
ARTICLE_EXTENSION: Final = uuid5_id("extension-definition", b"mburoja-article")
POST_EXTENSION: Final = uuid5_id("extension-definition", b"mburoja-post")
#: ``created``/``modified`` of the definitions above; a new schema version changes both.
_DEFINED: Final = "2026-11-23T00:00:00.000Z"
_EXTENSION_VERSION: Final = "1.0.0"

#: Query parameters that only track the reader: dropped by :func:`canonical_url`.
_TRACKING: Final = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "yclid", "igshid", "mc_cid", "mc_eid", "ref_src"}
)
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}

_COMMON_SCHEMA: Final = {
    "url": {"type": "string", "description": "where it was published"},
    "url_ref": {"type": "string", "description": "the url SCO of url"},
    "title": {"type": "string"},
    "text": {"type": "string", "description": "main text, boilerplate removed"},
    "published": {"type": "string", "format": "date-time"},
    "lang": {"type": "string", "description": "ISO 639-1; sh: Latin Serbian/Croatian/Bosnian"},
    "author": {"type": "string"},
    "links": {"type": "array", "items": {"type": "string"}},
    "link_refs": {"type": "array", "items": {"type": "string"}},
    "hashes": {
        "type": "object",
        "properties": {"SHA-256": {"type": "string", "description": "of the raw content"}},
    },
}


def _schema(title: str, own: Mapping[str, Any], required: Sequence[str]) -> str:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "type": "object",
        "properties": {**_COMMON_SCHEMA, **own},
        "required": ["type", "spec_version", "id", "extensions", *required],
    }
    return orjson.dumps(schema, option=orjson.OPT_SORT_KEYS).decode()


def definition_objects() -> list[dict[str, Any]]:
    """The identity and the two ``extension-definition`` objects the articles and posts name.

    Ingest them once into a store that holds articles or posts (``disinfo.fetch`` does), so
    the ``extensions`` keys resolve; they are the same on every instance.
    """
    identity = {
        "type": "identity",
        "spec_version": "2.1",
        "id": MBUROJA_IDENTITY,
        "created": _DEFINED,
        "modified": _DEFINED,
        "name": "Mburoja",
        "description": "The Mburoja project: defines the STIX extensions Mburoja instances use.",
        "identity_class": "system",
    }
    article = _definition(
        ARTICLE_EXTENSION,
        "Mburoja article",
        f"A web article of a news outlet, as an SCO of type {ARTICLE_TYPE!r}. "
        "ID-contributing property: url (the canonical URL), or hashes when there is none.",
        _schema(
            ARTICLE_TYPE,
            {"outlet": {"type": "string"}, "outlet_name": {"type": "string"}},
            ["outlet"],
        ),
    )
    post = _definition(
        POST_EXTENSION,
        "Mburoja social post",
        f"A post of a social media account, as an SCO of type {POST_TYPE!r}. "
        "ID-contributing properties: platform and post_id.",
        _schema(
            POST_TYPE,
            {
                "platform": {"type": "string"},
                "post_id": {"type": "string"},
                "account_id": {"type": "string"},
                "account_name": {"type": "string"},
                "reply_to": {"type": "string", "description": "platform id of the post"},
                "repost_of": {"type": "string", "description": "platform id of the post"},
                "reply_to_ref": {"type": "string"},
                "repost_of_ref": {"type": "string"},
            },
            ["account_id"],
        ),
    )
    return [identity, article, post]


def _definition(oid: str, name: str, description: str, schema: str) -> dict[str, Any]:
    return {
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": oid,
        "created_by_ref": MBUROJA_IDENTITY,
        "created": _DEFINED,
        "modified": _DEFINED,
        "name": name,
        "description": description,
        "schema": schema,
        "version": _EXTENSION_VERSION,
        "extension_types": ["new-sco"],
    }


# --------------------------------------------------------------------------- ids


def canonical_url(url: str) -> str:
    """``url`` in the one form an article is known by: scheme and host lower-case, default
    port, fragment and tracking parameters (``utm_*``, ``fbclid``…) removed, empty path ``/``.

    Anything else (path case, parameter order, a trailing slash) is kept: servers may tell
    those apart.
    """
    parts = urllib.parse.urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{port}"
    query = "&".join(
        pair
        for pair in parts.query.split("&")
        if pair and not _is_tracking(pair.split("=", 1)[0].lower())
    )
    return urllib.parse.urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def _is_tracking(name: str) -> bool:
    return name.startswith("utm_") or name in _TRACKING


def outlet_of(url: str) -> str:
    """The outlet an article URL belongs to: its host, lower-case, without ``www.``."""
    host = (urllib.parse.urlsplit(url).hostname or "").rstrip(".")
    return host.removeprefix("www.")


def article_id(url: str | None, content_hash: str | None = None) -> str:
    """The id of the article at ``url`` (canonicalised first), the same on every fetch; an
    article without a URL is named by the SHA-256 of its content."""
    if url:
        return sco_id(ARTICLE_TYPE, {"url": canonical_url(url)})
    if content_hash:
        return sco_id(ARTICLE_TYPE, {"hashes": {"SHA-256": content_hash}})
    raise InputFormatError("an article needs a URL or a content hash to be named")


def post_id(platform: str, platform_post_id: str) -> str:
    """The id of post ``platform_post_id`` on ``platform``, the same on every import."""
    return sco_id(POST_TYPE, {"platform": platform, "post_id": platform_post_id})


def content_sha256(raw: bytes) -> str:
    """The content hash kept with an article or post: SHA-256 of the raw bytes, hex."""
    return hashlib.sha256(raw).hexdigest()


def url_object(value: str) -> dict[str, Any]:
    """The ``url`` SCO of ``value`` (deterministic id, §2.9)."""
    return {
        "type": "url",
        "spec_version": "2.1",
        "id": sco_id("url", {"value": value}),
        "value": value,
    }


# --------------------------------------------------------------------------- Document -> STIX


def stix_time(epoch: float) -> str:
    """Epoch seconds as a STIX timestamp carrying every digit of the float's shortest
    decimal form (so :func:`epoch_of` gives back the same float)."""
    exact = Decimal(repr(float(epoch)))
    whole = exact.to_integral_value(rounding=ROUND_FLOOR)
    moment = datetime.fromtimestamp(int(whole), UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = format(exact - whole, "f").partition(".")[2].rstrip("0")
    return f"{moment}.{fraction or '0'}Z"


def epoch_of(timestamp: str) -> float:
    """A STIX timestamp (any number of fractional digits, ``Z``) as epoch seconds."""
    text = timestamp.strip()
    if not text.endswith(("Z", "z")):
        raise ValueError(f"{timestamp!r} is not in UTC (must end with Z)")
    head, dot, fraction = text[:-1].partition(".")
    if dot and not fraction.isdigit():
        raise ValueError(f"{timestamp!r} has a malformed fraction of a second")
    whole = int(datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp())
    return float(Decimal(whole) + Decimal(f"0.{fraction or '0'}"))


def _base(
    doc: Document, type_name: str, extension: str, markings: Sequence[str]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The properties both kinds share, and the url SCOs they reference."""
    obj: dict[str, Any] = {
        "type": type_name,
        "spec_version": "2.1",
        "id": doc.id,
    }
    urls: dict[str, dict[str, Any]] = {}

    def ref(value: str) -> str:
        found = urls.get(value)
        if found is None:
            found = urls[value] = url_object(value)
        return str(found["id"])

    if doc.url:
        obj["url"] = doc.url
        obj["url_ref"] = ref(doc.url)
    if doc.title:
        obj["title"] = doc.title
    if doc.text:
        obj["text"] = doc.text
    if doc.published is not None:
        obj["published"] = stix_time(doc.published)
    if doc.lang:
        obj["lang"] = doc.lang
    if doc.author:
        obj["author"] = doc.author
    if doc.urls:
        obj["links"] = list(doc.urls)
        obj["link_refs"] = list(dict.fromkeys(ref(u) for u in doc.urls))
    if doc.content_hash:
        obj["hashes"] = {"SHA-256": doc.content_hash}
    if markings:
        obj["object_marking_refs"] = list(markings)
    obj["extensions"] = {extension: {"extension_type": "new-sco"}}
    scos = list(urls.values())
    if markings:
        for sco in scos:
            sco["object_marking_refs"] = list(markings)
    return obj, scos


def article_objects(doc: Document, *, markings: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The article SCO of ``doc`` first, then the url SCOs it references. ``markings``
    (marking-definition ids, e.g. a TLP) go on every one of them."""
    if doc.kind != ARTICLE:
        raise ValueError(f"{doc.id}: article_objects takes an article, got a {doc.kind}")
    obj, scos = _base(doc, ARTICLE_TYPE, ARTICLE_EXTENSION, markings)
    obj["outlet"] = doc.source
    if doc.source_name:
        obj["outlet_name"] = doc.source_name
    return [obj, *scos]


def post_objects(
    doc: Document,
    *,
    platform: str | None = None,
    platform_post_id: str | None = None,
    markings: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """The post SCO of ``doc`` first, then the url SCOs it references.

    ``Document`` has no field for the platform or the platform's own post id; pass them to
    have them stored (and the posts this one replies to or reposts referenced by id).
    """
    if doc.kind != POST:
        raise ValueError(f"{doc.id}: post_objects takes a post, got a {doc.kind}")
    obj, scos = _base(doc, POST_TYPE, POST_EXTENSION, markings)
    if platform:
        obj["platform"] = platform
    if platform_post_id:
        obj["post_id"] = platform_post_id
    obj["account_id"] = doc.source
    if doc.source_name:
        obj["account_name"] = doc.source_name
    for name, value in (("reply_to", doc.reply_to), ("repost_of", doc.repost_of)):
        if value:
            obj[name] = value
            if platform:
                obj[f"{name}_ref"] = post_id(platform, value)
    return [obj, *scos]


def objects_of(doc: Document, *, markings: Sequence[str] = ()) -> list[dict[str, Any]]:
    """``article_objects`` or ``post_objects``, by the document's kind."""
    if doc.kind == ARTICLE:
        return article_objects(doc, markings=markings)
    return post_objects(doc, markings=markings)


# --------------------------------------------------------------------------- STIX -> Document


def _text(obj: Mapping[str, Any], name: str) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputFormatError(f"{obj.get('id')}: {name} must be a string")
    return value


def document_of(obj: Mapping[str, Any]) -> Document:
    """The ``Document`` a stored article or post object stands for."""
    kind_of = {ARTICLE_TYPE: ARTICLE, POST_TYPE: POST}
    type_name = obj.get("type")
    if type_name not in kind_of:
        raise InputFormatError(
            f"{obj.get('id')}: not an article or post (type {type_name!r}); "
            f"expected {ARTICLE_TYPE} or {POST_TYPE}"
        )
    kind = kind_of[type_name]
    source = _text(obj, "outlet" if kind == ARTICLE else "account_id")
    if not source:
        missing = "outlet" if kind == ARTICLE else "account_id"
        raise InputFormatError(f"{obj.get('id')}: {missing} is required")
    published = _text(obj, "published")
    links = obj.get("links") or []
    hashes = obj.get("hashes")
    try:
        return Document(
            id=str(obj["id"]),
            kind=kind,
            source=source,
            source_name=_text(obj, "outlet_name" if kind == ARTICLE else "account_name"),
            url=_text(obj, "url"),
            title=_text(obj, "title") or "",
            text=_text(obj, "text") or "",
            published=epoch_of(published) if published else None,
            lang=_text(obj, "lang"),
            author=_text(obj, "author"),
            urls=tuple(str(u) for u in links),
            reply_to=_text(obj, "reply_to"),
            repost_of=_text(obj, "repost_of"),
            content_hash=hashes.get("SHA-256") if isinstance(hashes, dict) else None,
        )
    except ValueError as exc:
        raise InputFormatError(f"{obj.get('id')}: {exc}") from exc


def documents_of(objects: Iterable[Mapping[str, Any]]) -> list[Document]:
    """The documents among ``objects`` (other types, such as the url SCOs, are skipped)."""
    return [document_of(o) for o in objects if o.get("type") in (ARTICLE_TYPE, POST_TYPE)]
