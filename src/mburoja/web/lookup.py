"""Search, shared by the search page (``web.search``) and ``GET /api/search``
(``api.objects_api``): one query matched three ways, cut through the policy, then filtered.

- **by value**: the correlation index (``store.search``): an address finds the indicators of
  networks that contain it, a domain those of its parents;
- **by name**: the whole query as a case-insensitive substring of the object's ``name``;
- **by text**: every word of the query in the object's name, description, pattern or value.

Name and text candidates come from the text index (``store.textindex``): the search first
indexes up to ``CATCH_UP`` versions the background indexer has not reached yet (so what was
just ingested is found), and says when the index is still behind (``windowed``). Every
candidate is confirmed against the view the caller's policy gives, so a redacted property
never makes a match and nothing the caller may not see is found, counted or named.

An indicator hit that a decay model takes carries its decay score
(:mod:`mburoja.lifecycle.scores`), counting only the sightings the caller may see.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import orjson

from mburoja.errors import MburojaError, Terminal
from mburoja.lifecycle.decay import DecayModels
from mburoja.lifecycle.scores import Explained, indicator_decay, sightings_of
from mburoja.policy import Caller, Policy
from mburoja.stix.markings import TLP_ORDER
from mburoja.stix.model import Observable
from mburoja.store.base import SearchHit, SearchResult, StoredVersion
from mburoja.store.browse import TextFilter
from mburoja.store.sql import SqlStore
from mburoja.web.charts import tlp_css

MAX_QUERY = 2048
MAX_WORDS = 8
CATCH_UP = 5000  # versions a search indexes itself before it matches names and words
_TEXT = 200  # characters of a name or pattern shown
_TYPE = re.compile(r"[a-z0-9][a-z0-9-]{0,249}")
TLP_CHOICES = (*TLP_ORDER, "none")


class FilterError(MburojaError, Terminal):
    """A search filter that cannot be read; names the filter and why."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


class Filters(msgspec.Struct, frozen=True, kw_only=True):
    """A parsed search request. ``since``/``until`` are store stamps (until exclusive)."""

    query: str = ""
    type: str | None = None
    tlp: str | None = None
    source: str | None = None
    since: str | None = None
    until: str | None = None
    min_confidence: int | None = None
    limit: int = 100


class Hit(SearchHit, frozen=True, kw_only=True):
    """One object found, as the caller may see it: the API's hit, plus how it matched, its
    pattern or value, and its confidence."""

    match: str  # value, name or text
    value: str | None
    confidence: int | None
    #: the decay score now (indicators a decay model takes only)
    decay: Explained | None = None

    @property
    def tlp_css(self) -> str:
        return tlp_css(self.tlp)


class Found(msgspec.Struct, frozen=True, kw_only=True):
    """The answer: ``SearchResult``'s fields, with ``Hit`` hits, and whether the text index
    is behind (the newest versions it has not taken in are found by value only)."""

    query: str
    keys: tuple[Observable, ...]
    hits: tuple[Hit, ...]
    sources: tuple[str, ...]
    first_seen: str | None
    last_seen: str | None
    elapsed_ms: float
    windowed: bool


def text(value: object) -> str | None:
    """A string property cut for a table cell."""
    if not isinstance(value, str):
        return None
    return value if len(value) <= _TEXT else value[: _TEXT - 1] + "…"


# -- the request -----------------------------------------------------------------------------


def parse_filters(params: Mapping[str, str], *, default_limit: int = 100) -> Filters:
    """The filters of a search request; ``FilterError`` names the first one that is wrong."""
    query = params.get("q", "").strip()
    if len(query) > MAX_QUERY:
        raise FilterError("q", f"longer than {MAX_QUERY} characters")
    kind = params.get("type", "").strip() or None
    if kind is not None and not _TYPE.fullmatch(kind):
        raise FilterError("type", f"{kind[:60]!r} is not a STIX type name (e.g. indicator)")
    tlp = params.get("tlp", "").strip().lower() or None
    if tlp == "white":
        tlp = "clear"
    if tlp is not None and tlp not in TLP_CHOICES:
        raise FilterError("tlp", f"{tlp[:60]!r} is not one of {', '.join(TLP_CHOICES)}")
    source = params.get("source", "").strip() or None
    if source is not None and len(source) > 200:
        raise FilterError("source", "longer than 200 characters")
    since = _stamp(params.get("since", ""), "since", end=False)
    until = _stamp(params.get("until", ""), "until", end=True)
    if since is not None and until is not None and since >= until:
        raise FilterError("until", "is not after since")
    confidence = _integer(params.get("min_confidence", ""), "min_confidence", 0, 100)
    limit = _integer(params.get("limit", ""), "limit", 1, 10000)
    return Filters(
        query=query,
        type=kind,
        tlp=tlp,
        source=source,
        since=since,
        until=until,
        min_confidence=confidence,
        limit=default_limit if limit is None else limit,
    )


def _integer(value: str, name: str, low: int, high: int) -> int | None:
    value = value.strip()
    if not value:
        return None
    # ASCII digits only: int() would also take Arabic-Indic or fullwidth digits, and "1_0"
    if not (value.isascii() and value.isdigit() and len(value) < 10) or not (
        low <= int(value) <= high
    ):
        raise FilterError(name, f"{value[:60]!r} is not an integer between {low} and {high}")
    return int(value)


def _stamp(value: str, name: str, *, end: bool) -> str | None:
    """A date (``YYYY-MM-DD``, a whole day: ``until`` takes it in) or an ISO 8601 time, as a
    store stamp."""
    value = value.strip()
    if not value:
        return None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            moment = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
            if end:
                moment += timedelta(days=1)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        raise FilterError(
            name, f"{value[:60]!r} is not a date (YYYY-MM-DD) or time (ISO 8601)"
        ) from None
    except OverflowError:  # e.g. the day after 9999-12-31, or year 1 at +01:00
        raise FilterError(name, f"{value[:60]!r} is outside the years 1 to 9999") from None


# -- the search ------------------------------------------------------------------------------


def visible_search(
    store: SqlStore, policy: Policy, caller: Caller, result: SearchResult
) -> SearchResult:
    """``result`` cut to the objects whose current version ``caller`` may see (a hit's name
    comes from the view the caller gets, so a redacted name is not shown)."""
    current = store.current_many([hit.id for hit in result.hits])
    hits = []
    for hit in result.hits:
        version = current.get(hit.id)
        if version is None:
            continue
        view = policy.view(caller, version.owner, version.markings, version.raw)
        if view is None:
            continue
        if view is not version.raw:
            name = orjson.loads(view).get("name")
            hit = msgspec.structs.replace(hit, name=name if isinstance(name, str) else None)
        hits.append(hit)
    sources = sorted({s for hit in hits for s in hit.sources})
    return msgspec.structs.replace(
        result,
        hits=tuple(hits),
        sources=tuple(sources),
        first_seen=min((h.first_seen for h in hits), default=None),
        last_seen=max((h.last_seen for h in hits), default=None),
    )


def search(
    store: SqlStore,
    policy: Policy,
    caller: Caller,
    filters: Filters,
    *,
    decay: DecayModels | None = None,
    now: float | None = None,
) -> Found:
    """Every object ``caller`` may see that matches ``filters.query`` by value, name or
    text and passes the filters; value matches first, then name, then text. With
    ``decay`` (the models in force), indicator hits carry their score at ``now``."""
    started = time.perf_counter()
    query = filters.query
    if not query:
        raise FilterError("q", "missing: the value, name or words to search for")
    by_value = visible_search(store, policy, caller, store.search(query, limit=filters.limit))
    words = [w.lower() for w in query.split()][:MAX_WORDS]
    store.index_text(CATCH_UP)
    windowed = store.text_backlog() > 0
    candidates = store.text_candidates(
        words,
        name_phrase=query,
        narrow=TextFilter(
            types=(filters.type,) if filters.type else (),
            tlp=filters.tlp,
            since=filters.since,
            until=filters.until,
        ),
        prefilter=policy.prefilter(caller),
        limit=filters.limit * 4,
    )
    value_hits = {h.id: h for h in by_value.hits}
    order = list(value_hits) + [c for c in candidates if c not in value_hits]
    current = store.current_many(order)
    kept: list[tuple[str, StoredVersion, dict[str, Any], str]] = []
    for oid in order:
        version = current.get(oid)
        if version is None:
            continue
        view = policy.view(caller, version.owner, version.markings, version.raw)
        if view is None:
            continue
        body = orjson.loads(view)
        match = "value" if oid in value_hits else _text_match(body, query, words)
        if match is None or not _passes(filters, version, body):
            continue
        kept.append((oid, version, body, match))
    seen = store.seen_many([oid for oid, _, _, m in kept if m != "value"])
    hits: list[Hit] = []
    for oid, version, body, match in kept:
        value_hit: SearchHit | None = value_hits.get(oid)
        if value_hit is not None:
            sources, first, last, count = (
                value_hit.sources,
                value_hit.first_seen,
                value_hit.last_seen,
                value_hit.versions,
            )
        else:
            s = seen[oid]
            sources, first, last, count = s.sources, s.first_seen, s.last_seen, s.versions
        if filters.source is not None and filters.source not in sources:
            continue
        name = body.get("name")
        confidence = body.get("confidence")
        hits.append(
            Hit(
                id=oid,
                type=version.type,
                name=name if isinstance(name, str) else None,
                matched=value_hit.matched if value_hit is not None else (),
                tlp=version.tlp,
                revoked=version.revoked,
                sources=sources,
                first_seen=first,
                last_seen=last,
                versions=count,
                match=match,
                value=text(body.get("pattern", body.get("value"))),
                confidence=confidence if type(confidence) is int else None,
            )
        )
        if len(hits) == filters.limit:
            break
    if decay:
        hits = _with_decay(store, policy, caller, hits, kept, decay, now)
    return Found(
        query=query,
        keys=by_value.keys,
        hits=tuple(hits),
        sources=tuple(sorted({s for h in hits for s in h.sources})),
        first_seen=min((h.first_seen for h in hits), default=None),
        last_seen=max((h.last_seen for h in hits), default=None),
        elapsed_ms=round((time.perf_counter() - started) * 1000, 3),
        windowed=windowed,
    )


def _with_decay(
    store: SqlStore,
    policy: Policy,
    caller: Caller,
    hits: list[Hit],
    kept: list[tuple[str, StoredVersion, dict[str, Any], str]],
    models: DecayModels,
    now: float | None,
) -> list[Hit]:
    """``hits`` with the decay score of each indicator a model takes."""
    now = time.time() if now is None else now
    bodies = {oid: (version, body) for oid, version, body, _match in kept}
    indicators = [h.id for h in hits if h.type == "indicator"]
    if not indicators:
        return hits
    seen = sightings_of(store, indicators, policy, caller, now)
    listed = store.listed_times(indicators)
    out: list[Hit] = []
    for hit in hits:
        if hit.type == "indicator":
            version, body = bodies[hit.id]
            explained = indicator_decay(
                models,
                body,
                version.source,
                version.owner,
                seen.get(hit.id),
                now,
                listed.get(hit.id),
            )
            hit = msgspec.structs.replace(hit, decay=explained)
        out.append(hit)
    return out


def _text_match(body: dict[str, Any], query: str, words: list[str]) -> str | None:
    """ "name" or "text" when the caller's view of the object matches, else None."""
    name = body.get("name")
    if isinstance(name, str) and query.lower() in name.lower():
        return "name"
    fields = " ".join(
        v.lower()
        for v in (name, body.get("description"), body.get("pattern"), body.get("value"))
        if isinstance(v, str)
    )
    if words and all(w in fields for w in words):
        return "text"
    return None


def _passes(filters: Filters, version: StoredVersion, body: dict[str, Any]) -> bool:
    """The filters the store did not apply (a value match is not narrowed by SQL)."""
    if filters.type is not None and version.type != filters.type:
        return False
    if filters.tlp is not None and (version.tlp or "none") != filters.tlp:
        return False
    if filters.since is not None and version.date_added < filters.since:
        return False
    if filters.until is not None and version.date_added >= filters.until:
        return False
    if filters.min_confidence is not None:
        confidence = body.get("confidence")
        if type(confidence) is not int or confidence < filters.min_confidence:
            return False
    return True
