"""Which feeds exist for this instance: the catalogue (shipped, plus the file named by
``feeds.catalogue``) with the store's registry on top.

A catalogue feed is off unless its entry says ``enabled`` or an operator switched it on
(``mburoja feed enable``, which records it in the store as ``shipped``). Feeds an operator
adds are stored as ``user`` and replace a catalogue feed of the same name; removing one
brings the catalogue's back. For a ``shipped`` row the catalogue's current spec is used
(an upgrade may fix a feed's URL); the stored copy only stands in if the entry is gone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import msgspec

from mburoja.config import Settings
from mburoja.errors import Conflict, NotFound
from mburoja.feeds import catalogue
from mburoja.feeds.catalogue import FeedSpec
from mburoja.stix import timestamps
from mburoja.store.feeds import FeedRow, Feeds

SHIPPED = "shipped"
USER = "user"


class Feed(msgspec.Struct, frozen=True, kw_only=True):
    """A feed as this instance sees it."""

    spec: FeedSpec
    source: str  # shipped (catalogue) or user
    enabled: bool
    registered: bool  # has a row in the store's registry

    @property
    def name(self) -> str:
        return self.spec.name


def catalogue_specs(settings: Settings) -> tuple[FeedSpec, ...]:
    """The shipped catalogue, with the entries of ``feeds.catalogue`` merged over it."""
    specs = catalogue.shipped()
    if settings.feeds.catalogue:
        specs = catalogue.merged(specs, catalogue.load(Path(settings.feeds.catalogue)))
    return specs


def all_feeds(store: Feeds, settings: Settings) -> list[Feed]:
    """Every feed, by name."""
    found = {
        spec.name: Feed(spec=spec, source=SHIPPED, enabled=spec.enabled, registered=False)
        for spec in catalogue_specs(settings)
    }
    for row in store.feed_rows():
        base = found.get(row.name)
        spec = base.spec if base is not None and row.source == SHIPPED else _spec(row)
        found[row.name] = Feed(spec=spec, source=row.source, enabled=row.enabled, registered=True)
    return [found[name] for name in sorted(found)]


def find(store: Feeds, settings: Settings, name: str) -> Feed:
    """Feed ``name``; ``NotFound`` saying how to see the names if there is none."""
    for feed in all_feeds(store, settings):
        if feed.name == name:
            return feed
    raise NotFound(f"no feed named {name!r}; `mburoja feed list` shows them")


def add(store: Feeds, specs: Sequence[FeedSpec]) -> None:
    """Register ``specs`` as user feeds (already validated by ``catalogue``); a user feed of
    the same name is refused, a catalogue one is overridden."""
    for spec in specs:
        existing = store.feed_row(spec.name)
        if existing is not None and existing.source == USER:
            raise Conflict(
                f"feed {spec.name!r} is already added; `mburoja feed remove {spec.name}` first"
            )
    for spec in specs:
        store.add_feed_row(_row(spec, USER, spec.enabled), replace=True)


def set_enabled(store: Feeds, settings: Settings, name: str, enabled: bool) -> Feed:
    """Switch feed ``name`` on or off; a catalogue feed gets its registry row here."""
    feed = find(store, settings, name)
    if feed.registered:
        store.set_feed_enabled(name, enabled)
    else:
        store.add_feed_row(_row(feed.spec, SHIPPED, enabled))
    return find(store, settings, name)


def remove(store: Feeds, settings: Settings, name: str) -> None:
    """Forget user feed ``name`` with its state and runs; catalogue feeds are disabled
    instead, never removed."""
    feed = find(store, settings, name)
    if feed.source != USER:
        raise Conflict(
            f"feed {name!r} comes from the catalogue and cannot be removed; "
            f"`mburoja feed disable {name}` turns it off"
        )
    store.remove_feed_row(name)


def _row(spec: FeedSpec, source: str, enabled: bool) -> FeedRow:
    return FeedRow(
        name=spec.name,
        spec=msgspec.json.encode(spec),
        enabled=enabled,
        source=source,
        created=timestamps.now(),
    )


def _spec(row: FeedRow) -> FeedSpec:
    return msgspec.json.decode(row.spec, type=FeedSpec)
