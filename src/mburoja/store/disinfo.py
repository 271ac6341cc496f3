"""The counter-disinformation watch list and fetch state, in the store.

A *watched source* is an outlet (an RSS/Atom feed or an HTML page, by URL) or a social
account (its id on a platform) that the analysts monitor. The *fetch state* of a URL is what
it answered last: its ``ETag`` and ``Last-Modified`` for the next conditional GET, the status
or the error, and the SHA-256 of the content last stored. What the rules are (which kinds, what
a valid location is) is ``mburoja.disinfo.sources``'s business; this module only keeps rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec
from sqlalchemy import Engine, select

from mburoja.errors import Conflict, NotFound
from mburoja.store import schema

_CHUNK = 500  # urls per IN (...) lookup


class WatchedSource(msgspec.Struct, frozen=True, kw_only=True):
    """One outlet or account on the watch list."""

    id: str
    name: str
    #: ``feed``, ``page`` or ``account``
    kind: str
    #: the feed's or page's URL, or the account's id
    location: str
    #: accounts: the platform (``telegram``, ``x``…); "" for outlets
    platform: str = ""
    #: the language expected (ISO 639-1), a hint for extraction
    lang: str | None = None
    #: the TLP level of what is fetched or imported from it
    tlp: str = "clear"
    enabled: bool = True
    created: str = ""


class FetchState(msgspec.Struct, frozen=True, kw_only=True):
    """What one URL answered the last time it was fetched."""

    url: str
    source_id: str
    etag: str | None = None
    last_modified: str | None = None
    #: the last HTTP status (304: not modified), None when the fetch failed before one
    status: int | None = None
    error: str | None = None
    #: SHA-256 of the last content stored from it (hex)
    content_sha256: str | None = None
    checked: str = ""
    #: when new content last came from it
    changed: str | None = None


def _source(row: Any) -> WatchedSource:
    values = dict(row)
    values["enabled"] = bool(values["enabled"])
    return WatchedSource(**values)


class DisinfoSources:
    """Mixin of :class:`~mburoja.store.sql.SqlStore`: the watch list and fetch state."""

    engine: Engine
    _write: Callable[[], Any]

    def add_disinfo_source(self, source: WatchedSource) -> WatchedSource:
        """Add ``source`` to the watch list; a name or a location already there is refused."""
        t = schema.disinfo_sources
        with self._write() as conn:
            clash = conn.execute(
                select(t.c.name).where(
                    (t.c.name == source.name)
                    | (
                        (t.c.kind == source.kind)
                        & (t.c.platform == source.platform)
                        & (t.c.location == source.location)
                    )
                )
            ).first()
            if clash is not None:
                raise Conflict(
                    f"the watch list has {source.kind} {source.location!r} or a source named "
                    f"{source.name!r} already (as {clash[0]!r}); see `mburoja disinfo source list`"
                )
            conn.execute(t.insert().values(**msgspec.structs.asdict(source)))
        return source

    def disinfo_sources(
        self, *, kind: str | None = None, enabled_only: bool = False
    ) -> list[WatchedSource]:
        """The watch list by name, optionally only one kind or only the enabled sources."""
        t = schema.disinfo_sources
        query = select(t).order_by(t.c.name)
        if kind is not None:
            query = query.where(t.c.kind == kind)
        if enabled_only:
            query = query.where(t.c.enabled.is_(True))
        with self.engine.connect() as conn:
            return [_source(r) for r in conn.execute(query).mappings()]

    def get_disinfo_source(self, name_or_id: str) -> WatchedSource:
        t = schema.disinfo_sources
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(t).where((t.c.name == name_or_id) | (t.c.id == name_or_id)))
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"no watched source {name_or_id!r}: see `mburoja disinfo source list`")
        return _source(row)

    def set_disinfo_source_enabled(self, name_or_id: str, enabled: bool) -> None:
        source = self.get_disinfo_source(name_or_id)
        t = schema.disinfo_sources
        with self._write() as conn:
            conn.execute(t.update().where(t.c.id == source.id).values(enabled=enabled))

    def remove_disinfo_source(self, name_or_id: str) -> None:
        """Take a source off the watch list, with its fetch state (what it fetched stays)."""
        source = self.get_disinfo_source(name_or_id)
        t, s = schema.disinfo_sources, schema.disinfo_fetch_state
        with self._write() as conn:
            conn.execute(s.delete().where(s.c.source_id == source.id))
            conn.execute(t.delete().where(t.c.id == source.id))

    def fetch_states(self, urls: Sequence[str]) -> dict[str, FetchState]:
        """url -> its fetch state, for the urls that have one."""
        t = schema.disinfo_fetch_state
        found: dict[str, FetchState] = {}
        unique = list(dict.fromkeys(urls))
        with self.engine.connect() as conn:
            for i in range(0, len(unique), _CHUNK):
                rows = conn.execute(select(t).where(t.c.url.in_(unique[i : i + _CHUNK])))
                for row in rows.mappings():
                    found[row["url"]] = FetchState(**dict(row))
        return found

    def source_fetch_states(self, source_id: str) -> list[FetchState]:
        """Every URL fetched for one source, by URL."""
        t = schema.disinfo_fetch_state
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).where(t.c.source_id == source_id).order_by(t.c.url))
            return [FetchState(**dict(r)) for r in rows.mappings()]

    def save_fetch_states(self, states: Sequence[FetchState]) -> None:
        """Record ``states``, replacing what each URL had (one transaction)."""
        if not states:
            return
        t = schema.disinfo_fetch_state
        latest = {state.url: state for state in states}
        urls = list(latest)
        with self._write() as conn:
            for i in range(0, len(urls), _CHUNK):
                conn.execute(t.delete().where(t.c.url.in_(urls[i : i + _CHUNK])))
            conn.execute(t.insert(), [msgspec.structs.asdict(s) for s in latest.values()])


__all__ = ["DisinfoSources", "FetchState", "WatchedSource"]
