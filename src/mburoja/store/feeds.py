"""The feed registry, feed state and run history, in the store.

What a feed *is* (its ``FeedSpec``, the catalogue, validation) is ``mburoja.feeds``' business;
this module keeps rows: which feeds were added or switched on, the validators and health of
each, the lease that lets exactly one worker run a feed at a time, and one row per run.

The lease is a single conditional ``UPDATE`` (taken when nobody holds it or the holder's time
ran out) whose row count says who won, so two workers racing for a feed on SQLite or
PostgreSQL cannot both get it; an expired lease (a crashed worker) is taken over.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import msgspec
from sqlalchemy import Engine, delete, insert, select, text, update

from mburoja.errors import Conflict, NotFound
from mburoja.store import schema


class FeedRow(msgspec.Struct, frozen=True, kw_only=True):
    """A feed in the registry: ``spec`` is the ``FeedSpec`` as JSON."""

    name: str
    spec: bytes
    enabled: bool
    source: str  # shipped or user
    created: str


class FeedState(msgspec.Struct, frozen=True, kw_only=True):
    """What the last runs of a feed left: validators, health, the lease."""

    name: str
    etag: str | None = None
    last_modified: str | None = None
    last_run: str | None = None
    failures: int = 0
    healthy: bool = True
    lease_holder: str | None = None
    lease_until: float | None = None


class FeedRun(msgspec.Struct, kw_only=True):
    """One run of a feed. ``status``: ok, not-modified, failed (recorded) or skipped (the
    lease was held elsewhere; not recorded). The counts add up as an ingest's do."""

    feed: str
    started: str
    finished: str
    status: str
    duration_s: float = 0.0
    bytes: int = 0
    received: int = 0
    new: int = 0
    new_versions: int = 0
    unchanged: int = 0
    rejected: int = 0
    ingest_id: int | None = None
    error: str | None = None
    id: int | None = None

    @property
    def adds_up(self) -> bool:
        return self.received == self.new + self.new_versions + self.unchanged + self.rejected

    @property
    def rate(self) -> float:
        """Items received per second."""
        return self.received / self.duration_s if self.duration_s > 0 else 0.0


_RUN_FIELDS = tuple(f for f in FeedRun.__struct_fields__ if f != "id")


class Feeds:
    """Mixin of :class:`~mburoja.store.sql.SqlStore`: feed registry, state, leases, runs."""

    engine: Engine
    _write: Callable[[], Any]

    # -- registry ------------------------------------------------------------------------

    def feed_rows(self) -> list[FeedRow]:
        """Every feed in the registry, by name."""
        t = schema.feeds
        with self.engine.connect() as conn:
            rows = conn.execute(select(t).order_by(t.c.name)).mappings().all()
        return [_feed_row(r) for r in rows]

    def feed_row(self, name: str) -> FeedRow | None:
        t = schema.feeds
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.name == name)).mappings().first()
        return None if row is None else _feed_row(row)

    def add_feed_row(self, row: FeedRow, *, replace: bool = False) -> None:
        """Add ``row``; one of that name already there is refused unless ``replace``."""
        t = schema.feeds
        values = msgspec.structs.asdict(row) | {"spec": row.spec.decode()}
        with self._write() as conn:
            found = conn.execute(select(t.c.name).where(t.c.name == row.name)).first()
            if found is not None and not replace:
                raise Conflict(f"feed {row.name!r} is already registered")
            if found is not None:
                conn.execute(update(t).where(t.c.name == row.name).values(values))
            else:
                conn.execute(insert(t).values(values))

    def set_feed_enabled(self, name: str, enabled: bool) -> None:
        t = schema.feeds
        with self._write() as conn:
            done = conn.execute(update(t).where(t.c.name == name).values(enabled=enabled))
        if done.rowcount == 0:
            raise NotFound(f"feed {name!r} is not registered")

    def remove_feed_row(self, name: str) -> None:
        """Forget feed ``name``: its registry row, state and run history."""
        with self._write() as conn:
            done = conn.execute(delete(schema.feeds).where(schema.feeds.c.name == name))
            if done.rowcount == 0:
                raise NotFound(f"feed {name!r} is not registered")
            conn.execute(delete(schema.feed_state).where(schema.feed_state.c.name == name))
            conn.execute(delete(schema.feed_runs).where(schema.feed_runs.c.feed == name))

    # -- state and leases ----------------------------------------------------------------

    def feed_state(self, name: str) -> FeedState:
        """The state of feed ``name`` (a fresh, healthy one if it never ran)."""
        t = schema.feed_state
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.name == name)).mappings().first()
        if row is None:
            return FeedState(name=name)
        values = dict(row)
        values["healthy"] = bool(values["healthy"])
        return FeedState(**values)

    def acquire_feed_lease(
        self, name: str, holder: str, seconds: float, *, now: float | None = None
    ) -> bool:
        """Take feed ``name``'s lease for ``holder`` for ``seconds``; False if another holder
        has it and its time has not run out. Exactly one of racing callers gets True."""
        moment = time.time() if now is None else now
        t = schema.feed_state
        with self._write() as conn:
            conn.execute(
                text(
                    "INSERT INTO feed_state (name, failures, healthy) VALUES (:name, 0, :yes) "
                    "ON CONFLICT (name) DO NOTHING"
                ),
                {"name": name, "yes": True},
            )
            taken = conn.execute(
                update(t)
                .where(
                    (t.c.name == name) & (t.c.lease_holder.is_(None) | (t.c.lease_until < moment))
                )
                .values(lease_holder=holder, lease_until=moment + seconds)
            )
        return bool(taken.rowcount == 1)

    def release_feed_lease(self, name: str, holder: str) -> None:
        """Give back ``holder``'s lease of feed ``name`` (nothing if it does not hold it)."""
        t = schema.feed_state
        with self._write() as conn:
            conn.execute(
                update(t)
                .where((t.c.name == name) & (t.c.lease_holder == holder))
                .values(lease_holder=None, lease_until=None)
            )

    def record_feed_run(
        self,
        run: FeedRun,
        *,
        etag: str | None,
        last_modified: str | None,
        unhealthy_after: int,
    ) -> FeedRun:
        """Store ``run`` and move the feed's state on: a failure counts towards unhealthy
        (after ``unhealthy_after`` in a row), anything else heals it and keeps the validators
        given. Returns ``run`` with its id."""
        t = schema.feed_state
        values = {f: getattr(run, f) for f in _RUN_FIELDS}
        with self._write() as conn:
            conn.execute(
                text(
                    "INSERT INTO feed_state (name, failures, healthy) VALUES (:name, 0, :yes) "
                    "ON CONFLICT (name) DO NOTHING"
                ),
                {"name": run.feed, "yes": True},
            )
            done = conn.execute(insert(schema.feed_runs).values(values))
            run.id = int(done.inserted_primary_key[0])
            if run.status == "failed":
                failures = conn.execute(
                    select(t.c.failures).where(t.c.name == run.feed)
                ).scalar_one()
                failures = int(failures) + 1
                changes: dict[str, Any] = {
                    "failures": failures,
                    "healthy": failures < unhealthy_after,
                }
            else:
                changes = {
                    "failures": 0,
                    "healthy": True,
                    "etag": etag,
                    "last_modified": last_modified,
                }
            conn.execute(
                update(t).where(t.c.name == run.feed).values(last_run=run.finished, **changes)
            )
        return run

    def feed_runs(self, name: str, limit: int = 10) -> list[FeedRun]:
        """The latest ``limit`` runs of feed ``name``, newest first."""
        t = schema.feed_runs
        with self.engine.connect() as conn:
            rows = (
                conn.execute(select(t).where(t.c.feed == name).order_by(t.c.id.desc()).limit(limit))
                .mappings()
                .all()
            )
        return [FeedRun(**dict(r)) for r in rows]


def _feed_row(row: Any) -> FeedRow:
    values = dict(row)
    values["enabled"] = bool(values["enabled"])
    values["spec"] = str(values["spec"]).encode()
    return FeedRow(**values)
