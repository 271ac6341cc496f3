"""The watch list: which outlets and social accounts the analysts monitor.

Three kinds of source:

* ``feed``: an RSS or Atom feed URL; each entry's linked article is fetched and extracted;
* ``page``: one HTML page URL, fetched and extracted as one article;
* ``account``: a social account (its id on a ``platform``); its posts come in through JSONL
  exports (``mburoja disinfo import-posts``), which the watch list names.

Each source has a unique name, an expected language (a hint, ISO 639-1, ``sh`` for Latin
Serbian/Croatian/Bosnian) and the TLP level its articles or posts are stored under (CLEAR by
default: they are public pages). Sources live in the store (``store.disinfo``); this module
checks them on the way in.
"""

from __future__ import annotations

import math
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import httpx
import msgspec
import orjson

from mburoja.config import Settings
from mburoja.disinfo.extract import normalise_lang
from mburoja.disinfo.fetch import COLLECTION, LangDetector, install_definitions
from mburoja.disinfo.lang import identify
from mburoja.disinfo.model import LANGUAGES, POST, Document
from mburoja.disinfo.objects import canonical_url, content_sha256, post_id, post_objects
from mburoja.errors import ConfigError, InputFormatError, InputTooLarge
from mburoja.ingest.pipeline import REPORT_REJECTS, Ingestor, IngestReport, ProgressFn
from mburoja.stix.markings import TLP2, tlp_marking_id
from mburoja.stix.model import RawObject, Reject
from mburoja.store.disinfo import DisinfoSources, FetchState, WatchedSource
from mburoja.store.sql import SqlStore

SOURCE_KINDS: Final = ("feed", "page", "account")
_NAMESPACE: Final = uuid.UUID("d1b2f7a4-5c3e-4e8a-9f61-2a7b0c9d4e15")
_PLATFORM: Final = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_MAX_NAME: Final = 200

__all__ = [
    "SOURCE_KINDS",
    "FetchState",
    "PostImport",
    "PostReject",
    "WatchedSource",
    "add_source",
    "import_posts",
    "new_source",
    "post_record",
    "source_id",
    "watch_list",
]


def source_id(kind: str, location: str, platform: str = "") -> str:
    """The id of the source at ``location``: the same on every instance."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}\n{platform}\n{location}"))


def _http_url(kind: str, location: str) -> str:
    try:
        url = httpx.URL(location.strip())
    except (httpx.InvalidURL, TypeError) as exc:
        raise ConfigError(f"{location!r}: not a valid URL for a {kind}: {exc}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigError(
            f"{location!r}: a {kind} is an absolute http(s) URL, such as https://example.rs/rss"
        )
    return canonical_url(str(url))


def _tlp(level: str) -> str:
    try:
        marking = tlp_marking_id(level)
    except KeyError:
        raise ConfigError(f"unknown TLP level {level!r}: use one of {', '.join(TLP2)}") from None
    return next(name for name, mid in TLP2.items() if mid == marking)


def new_source(
    kind: str,
    location: str,
    *,
    name: str | None = None,
    platform: str = "",
    lang: str | None = None,
    tlp: str = "clear",
) -> WatchedSource:
    """A checked watch-list entry (not stored yet); ``ConfigError`` says what is wrong."""
    if kind not in SOURCE_KINDS:
        raise ConfigError(f"unknown source kind {kind!r}: use one of {', '.join(SOURCE_KINDS)}")
    platform = platform.strip().lower()
    if kind == "account":
        location = location.strip()
        if not location or any(ch.isspace() for ch in location):
            raise ConfigError(f"{location!r}: an account is its id on the platform, no spaces")
        if not _PLATFORM.match(platform):
            raise ConfigError(
                "an account needs its platform (--platform), a short lower-case name such "
                "as telegram, x, facebook or vk"
            )
        default_name = f"{platform}:{location}"
    else:
        if platform:
            raise ConfigError(f"a {kind} has no platform; --platform is for accounts")
        location = _http_url(kind, location)
        default_name = httpx.URL(location).host.removeprefix("www.")
    if lang is not None:
        lang = lang.strip().lower()
        if lang not in LANGUAGES and not re.fullmatch(r"[a-z]{2}", lang):
            raise ConfigError(
                f"{lang!r} is not an ISO 639-1 language code (the analysts' languages: "
                f"{', '.join(LANGUAGES)})"
            )
    shown = (name or default_name).strip()
    if not shown or len(shown) > _MAX_NAME:
        raise ConfigError(f"a source name is 1 to {_MAX_NAME} characters")
    return WatchedSource(
        id=source_id(kind, location, platform),
        name=shown,
        kind=kind,
        location=location,
        platform=platform,
        lang=lang or None,
        tlp=_tlp(tlp),
        enabled=True,
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    )


def add_source(
    store: DisinfoSources,
    kind: str,
    location: str,
    *,
    name: str | None = None,
    platform: str = "",
    lang: str | None = None,
    tlp: str = "clear",
) -> WatchedSource:
    """Check and add one source to the watch list (``Conflict`` if it is there already)."""
    source = new_source(kind, location, name=name, platform=platform, lang=lang, tlp=tlp)
    return store.add_disinfo_source(source)


def watch_list(store: DisinfoSources, kind: str | None = None) -> list[WatchedSource]:
    """The watch list by name, optionally one kind only."""
    if kind is not None and kind not in SOURCE_KINDS:
        raise ConfigError(f"unknown source kind {kind!r}: use one of {', '.join(SOURCE_KINDS)}")
    return store.disinfo_sources(kind=kind)


def account_names(store: DisinfoSources, platform: str) -> dict[str, str]:
    """account id -> the name the watch list gives it, for the accounts on ``platform``."""
    return {
        s.location: s.name
        for s in store.disinfo_sources(kind="account")
        if s.platform == platform.strip().lower()
    }


# --------------------------------------------------------------------------- JSONL posts


class PostReject(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a post export that was not imported, and why."""

    file: str
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.reason}"


class PostImport(msgspec.Struct, kw_only=True):
    """What importing one JSONL export did. ``lines == posts + rejected`` (blank lines are
    not counted); the stored objects (posts and their url SCOs) are in ``ingest``."""

    file: str
    lines: int = 0
    posts: int = 0
    rejected: int = 0
    rejects: list[PostReject] = msgspec.field(default_factory=list)
    ingest: IngestReport | None = None
    elapsed_s: float = 0.0

    @property
    def adds_up(self) -> bool:
        return self.lines == self.posts + self.rejected

    @property
    def rate(self) -> float:
        return self.lines / self.elapsed_s if self.elapsed_s > 0 else 0.0


class _LineError(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


#: Post ids and account ids may be JSON strings or integers.
_ID_TYPES: Final = (str, int)
#: An epoch above this is in milliseconds, not seconds (it would be past the year 5000).
_MAX_EPOCH_S: Final = 1e11


def _identifier(record: dict[str, Any], field: str, *, required: bool) -> str | None:
    value = record.get(field)
    if value is None or value == "":
        if required:
            raise _LineError(field, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, _ID_TYPES):
        raise _LineError(field, f"must be a string or an integer, got {type(value).__name__}")
    text = str(value).strip()
    if not text or len(text) > 512:
        raise _LineError(field, "must be 1 to 512 characters")
    return text


def _timestamp(value: Any) -> float:
    if value is None:
        raise _LineError("timestamp", "is required (epoch seconds or ISO 8601 with a zone)")
    if isinstance(value, bool):
        raise _LineError("timestamp", "must be epoch seconds or an ISO 8601 string")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise _LineError("timestamp", f"{value!r} is not a time")
        if value > _MAX_EPOCH_S:
            raise _LineError("timestamp", f"{value!r} looks like milliseconds; give seconds")
        return round(float(value), 6)
    if not isinstance(value, str):
        raise _LineError("timestamp", "must be epoch seconds or an ISO 8601 string")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _LineError("timestamp", f"{value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise _LineError("timestamp", f"{value!r} has no time zone; add Z or an offset (+02:00)")
    return moment.timestamp()


def _urls(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _LineError("urls", f"must be a list of URLs, got {type(value).__name__}")
    found: dict[str, None] = {}
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip().startswith(("http://", "https://")):
            raise _LineError(f"urls[{i}]", f"must be an absolute http(s) URL, got {item!r}")
        found[canonical_url(item)] = None
    return tuple(found)


def post_record(
    record: Any,
    raw: bytes,
    *,
    platform: str | None,
    names: dict[str, str],
    detect_lang: LangDetector | None = None,
) -> tuple[Document, str, str]:
    """One export record as a post ``Document``, with its platform and platform post id.
    Raises ``_LineError`` naming the field that is wrong."""
    if not isinstance(record, dict):
        raise _LineError("(line)", f"must be a JSON object, got {type(record).__name__}")
    where = _identifier(record, "platform", required=False)
    where = (where or platform or "").strip().lower()
    if not _PLATFORM.match(where):
        raise _LineError("platform", "is required: give it on the line or with --platform")
    pid = _identifier(record, "post_id", required=True)
    account = _identifier(record, "account_id", required=True)
    assert pid is not None and account is not None
    text = record.get("text")
    if text is not None and not isinstance(text, str):
        raise _LineError("text", f"must be a string, got {type(text).__name__}")
    urls = _urls(record.get("urls"))
    if not text and not urls:
        raise _LineError("text", "a post needs text or urls")
    name = record.get("account_name")
    if name is not None and not isinstance(name, str):
        raise _LineError("account_name", f"must be a string, got {type(name).__name__}")
    permalink = record.get("url")
    if permalink is not None and (
        not isinstance(permalink, str) or not permalink.startswith(("http://", "https://"))
    ):
        raise _LineError("url", f"must be an absolute http(s) URL, got {permalink!r}")
    hint = record.get("lang")
    if hint is not None and not isinstance(hint, str):
        raise _LineError("lang", f"must be a language code, got {type(hint).__name__}")
    published = _timestamp(record.get("timestamp"))
    detected = detect_lang(text) if detect_lang and text else None
    doc = Document(
        id=post_id(where, pid),
        kind=POST,
        source=account,
        source_name=name or names.get(account),
        url=canonical_url(permalink) if permalink else None,
        text=text or "",
        published=published,
        lang=detected or normalise_lang(hint, text or ""),
        urls=urls,
        reply_to=_identifier(record, "reply_to", required=False),
        repost_of=_identifier(record, "repost_of", required=False),
        content_hash=content_sha256(raw),
    )
    return doc, where, pid


def _post_items(
    path: Path,
    result: PostImport,
    *,
    platform: str | None,
    names: dict[str, str],
    detect_lang: LangDetector | None,
    markings: list[str],
    max_line: int,
) -> Iterator[RawObject | Reject]:
    origin = str(path)
    with path.open("rb") as fh:
        for number, line in enumerate(fh, 1):
            raw = line.strip()
            if not raw:
                continue
            result.lines += 1
            try:
                if len(raw) > max_line:
                    raise _LineError(
                        "(line)",
                        f"is {len(raw):,} bytes, over the limit of {max_line:,} "
                        "(setting limits.max_object_bytes)",
                    )
                try:
                    record = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    raise _LineError("(line)", f"not valid JSON: {exc}") from None
                doc, where, pid = post_record(
                    record, raw, platform=platform, names=names, detect_lang=detect_lang
                )
            except _LineError as exc:
                result.rejected += 1
                if len(result.rejects) < REPORT_REJECTS:
                    result.rejects.append(
                        PostReject(file=origin, line=number, field=exc.field, reason=exc.reason)
                    )
                yield Reject(origin, number, None, exc.field, exc.reason, raw)
                continue
            result.posts += 1
            objects = post_objects(doc, platform=where, platform_post_id=pid, markings=markings)
            for obj in objects:
                yield RawObject(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS), origin, number)


def import_posts(
    path: str | Path,
    store: SqlStore,
    settings: Settings,
    *,
    platform: str | None = None,
    tlp: str = "clear",
    detect_lang: LangDetector | None = identify,
    collection: str = COLLECTION,
    actor: str = "cli",
    progress: ProgressFn | None = None,
) -> PostImport:
    """Import a JSONL export of posts: one JSON object a line with ``post_id``,
    ``account_id``, ``account_name``, ``text``, ``urls``, ``timestamp`` (epoch seconds or
    ISO 8601 with a zone), ``reply_to``, ``repost_of``, and optionally ``platform``, ``url``
    and ``lang``. A bad line is rejected with its file, line, field and reason, and
    quarantined; the good lines still land. ``platform`` applies to lines that name none.
    ``detect_lang`` names each post's language (None, or no answer: the line's ``lang``)."""
    file = Path(path)
    try:
        size = file.stat().st_size
    except OSError as exc:
        raise InputFormatError(f"{file}: cannot read: {exc.strerror}") from exc
    if size > settings.limits.max_input_bytes:
        raise InputTooLarge(
            f"{file}: file is {size:,} bytes, over the limit of "
            f"{settings.limits.max_input_bytes:,} (setting limits.max_input_bytes)"
        )
    markings = [TLP2[_tlp(tlp)]]
    started = time.perf_counter()
    result = PostImport(file=str(file))
    names = account_names(store, platform) if platform else {}
    install_definitions(store, settings, collection)
    items = _post_items(
        file,
        result,
        platform=platform,
        names=names,
        detect_lang=detect_lang,
        markings=markings,
        max_line=settings.limits.max_object_bytes,
    )
    result.ingest = Ingestor(store, settings, progress=progress).run(
        items, source=f"disinfo:posts:{file.name}", actor=actor, collection=collection
    )
    result.elapsed_s = time.perf_counter() - started
    return result
