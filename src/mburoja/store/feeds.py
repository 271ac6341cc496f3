"""The feed registry, feed state and run history, in the store.

What a feed *is* (its ``FeedSpec``, the catalogue, validation) is ``mburoja.feeds``' business;
this module keeps rows: which feeds were added or switched on, the validators and health of
each, the lease that lets exactly one worker run a feed at a time, and one row per run.

The lease is a single conditional ``UPDATE`` (taken when nobody holds it or the holder's time
ran out) whose row count says who won, so two workers racing for a feed on SQLite or
PostgreSQL cannot both get it; an expired lease (a crashed worker) is taken over.

What runs remember between them lives here too: a full-snapshot feed's values and how many
good runs in a row each was missing (``advance_feed_values``: the writes are proportional to
what changed, so a million-value list that did not change costs one read), a MISP feed's
manifest timestamps, and a TAXII feed's ``date_added`` cursor.

``listed_times`` answers when a full-snapshot feed last listed a value, for indicator decay
(:mod:`mburoja.lifecycle.decay`): a value the feed listed in its last good run (missing 0)
was listed at the ``started`` of the feed's newest good run, ``ok`` or ``not-modified`` (a
304 means the list did not change, so it still lists the value); a value missing from the
latest good runs was last listed at the newest good run before the first run that missed it.
No column is needed for it: the run history has the times, read with one small query per
feed and per distinct ``missing_since``, whatever the number of values.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)

from mburoja.errors import Conflict, NotFound
from mburoja.stix import timestamps
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


class FeedCursor(msgspec.Struct, frozen=True, kw_only=True):
    """Where a TAXII feed's pull stands: the ``X-TAXII-Date-Added-Last`` of its last committed
    page, and ``cut`` when the run that saved it stopped between pages."""

    date_added_last: str | None = None
    cut: bool = False


class FeedRun(msgspec.Struct, kw_only=True):
    """One run of a feed. ``status``: ok, not-modified, failed (recorded) or skipped (the
    lease was held elsewhere; not recorded). The counts add up as an ingest's do, the
    withdrawals included: ``withdrawn`` says how many of ``new_versions`` were new versions
    that withdraw a value the feed stopped listing. A MISP feed run also counts the
    manifest's events it fetched and those it skipped as unchanged (together, the manifest's
    events when it was read)."""

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
    events_fetched: int = 0
    events_skipped: int = 0
    withdrawn: int = 0
    id: int | None = None

    @property
    def adds_up(self) -> bool:
        return self.received == self.new + self.new_versions + self.unchanged + self.rejected

    @property
    def rate(self) -> float:
        """Items received per second."""
        return self.received / self.duration_s if self.duration_s > 0 else 0.0


class Listing(NamedTuple):
    """When a full-snapshot feed last listed a value (epoch seconds) and which feed."""

    at: float
    feed: str


#: Rows per bulk statement of ``advance_feed_values``.
_BULK = 50_000
#: Ids per ``IN (...)`` list of ``listed_times``; from ``_SCAN`` ids on, one read of the
#: whole table filtered here is cheaper than that many lists.
_IDS = 500
_SCAN = 50_000
#: The statuses of a run that read the feed's list: a 304 says it did not change.
_GOOD = ("ok", "not-modified")
_RUN_FIELDS = tuple(f for f in FeedRun.__struct_fields__ if f != "id")


class Feeds:
    """Mixin of :class:`~mburoja.store.sql.SqlStore`: feed registry, state, leases, runs."""

    engine: Engine
    _write: Callable[[], Any]
    _ph: str

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
            # the scheduler's claim of the feed is a lease row of its own (feeds.scheduler)
            state = schema.feed_state
            conn.execute(delete(state).where(state.c.name.in_([name, f"schedule:{name}"])))
            conn.execute(delete(schema.feed_runs).where(schema.feed_runs.c.feed == name))
            for table in (schema.feed_values, schema.feed_events, schema.feed_cursors):
                conn.execute(delete(table).where(table.c.feed == name))

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

    def newest_feed_run(self) -> int:
        """The id of the newest recorded run of any feed (0: none). One index lookup: a
        reader that keeps it can tell cheaply whether a feed ran since it last looked."""
        with self.engine.connect() as conn:
            found = conn.execute(select(func.max(schema.feed_runs.c.id))).scalar()
        return 0 if found is None else int(found)

    # -- what runs remember --------------------------------------------------------------

    def feed_values(self, name: str) -> dict[str, int]:
        """A full-snapshot feed's tracked indicator ids: id -> good runs in a row missing."""
        with self.engine.connect() as conn:
            return self._tracked(conn, name)

    def _tracked(self, conn: Connection, name: str) -> dict[str, int]:
        rows = conn.exec_driver_sql(
            f"SELECT indicator_id, missing FROM feed_values WHERE feed = {self._ph}", (name,)
        )
        return {str(i): int(m) for i, m in rows}

    def advance_feed_values(self, name: str, seen: set[str], when: str) -> dict[str, int]:
        """Count one good run of full-snapshot feed ``name`` that listed the ids ``seen``:
        new ids are tracked, listed ones are missing 0 runs, every other tracked id one run
        more (from ``when`` if it was listed before). Returns the tracked ids now missing,
        id -> runs. Writes only what changed, in bulk statements (COPY for new ids on
        PostgreSQL), in one transaction: a million-value list that did not change costs one
        read."""
        ph = self._ph
        with self._write() as conn:
            known = self._tracked(conn, name)
            gone = {i: m + 1 for i, m in known.items() if i not in seen}
            self._track(conn, [(name, i) for i in seen if i not in known])
            writes = (
                (
                    "UPDATE feed_values SET missing = 0, missing_since = NULL "
                    f"WHERE feed = {ph} AND indicator_id = {ph}",
                    [(name, i) for i, m in known.items() if m and i in seen],
                ),
                (
                    f"UPDATE feed_values SET missing = 1, missing_since = {ph} "
                    f"WHERE feed = {ph} AND indicator_id = {ph}",
                    [(when, name, i) for i, m in gone.items() if m == 1],
                ),
                (
                    f"UPDATE feed_values SET missing = {ph} "
                    f"WHERE feed = {ph} AND indicator_id = {ph}",
                    [(m, name, i) for i, m in gone.items() if m > 1],
                ),
            )
            for statement, rows in writes:
                for start in range(0, len(rows), _BULK):
                    conn.exec_driver_sql(statement, rows[start : start + _BULK])
        return gone

    def listed_times(self, ids: Iterable[str] | None = None) -> dict[str, Listing]:
        """Indicator id -> when a full-snapshot feed last listed it (the newest listing when
        several feeds do), for the ``ids`` given (None: every tracked value). See the module
        docstring for what counts as a listing; an id no feed tracks is absent. One read of
        ``feed_values`` (in ``IN`` lists of 500 ids for fewer than 50,000 ``ids``) plus one
        small query per feed and per distinct ``missing_since``."""
        out: dict[str, Listing] = {}
        with self.engine.connect() as conn:
            newest = self._newest_good_runs(conn)
            if not newest:
                return out  # no feed ever read its list: nothing was listed
            before: dict[tuple[str, str], float | None] = {}
            for indicator_id, feed, missing, since in self._value_rows(conn, ids):
                if not missing:
                    at = newest.get(feed)
                elif since is None:
                    at = None
                else:
                    key = (feed, since)
                    if key not in before:
                        before[key] = self._listed_before(conn, feed, since)
                    at = before[key]
                if at is None:
                    continue
                known = out.get(indicator_id)
                if known is None or at > known.at:
                    out[indicator_id] = Listing(at, feed)
        return out

    def _value_rows(
        self, conn: Connection, ids: Iterable[str] | None
    ) -> Iterator[tuple[str, str, int, str | None]]:
        t = schema.feed_values
        columns = select(t.c.indicator_id, t.c.feed, t.c.missing, t.c.missing_since)
        if ids is None:
            for row in conn.execute(columns):
                yield str(row[0]), str(row[1]), int(row[2]), row[3]
            return
        wanted = list(dict.fromkeys(ids))
        if len(wanted) >= _SCAN:
            keep = set(wanted)
            for value in self._value_rows(conn, None):
                if value[0] in keep:
                    yield value
            return
        for start in range(0, len(wanted), _IDS):
            chunk = wanted[start : start + _IDS]
            for row in conn.execute(columns.where(t.c.indicator_id.in_(chunk))):
                yield str(row[0]), str(row[1]), int(row[2]), row[3]

    def _newest_good_runs(self, conn: Connection) -> dict[str, float]:
        """Feed -> the ``started`` of its newest good run (feeds that never had one: absent).
        One row per registered feed; each walks the feed's runs newest first by index."""
        r = schema.feed_runs
        newest = (
            select(r.c.started)
            .where((r.c.feed == schema.feeds.c.name) & r.c.status.in_(_GOOD))
            .order_by(r.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        out: dict[str, float] = {}
        for name, started in conn.execute(select(schema.feeds.c.name, newest)):
            at = _epoch(started)
            if at is not None:
                out[str(name)] = at
        return out

    def _listed_before(self, conn: Connection, feed: str, since: str) -> float | None:
        """The ``started`` of feed ``feed``'s newest good run before the run that started at
        ``since`` (the first good run that missed a value). Runs of a feed are serialised by
        its lease, so run ids are in run order; when that run is not recorded yet (it is
        still finishing), the newest good run is the last listing."""
        r = schema.feed_runs
        cut = (
            select(func.min(r.c.id))
            .where((r.c.feed == feed) & (r.c.status == "ok") & (r.c.started == since))
            .scalar_subquery()
        )
        query = (
            select(r.c.started)
            .where((r.c.feed == feed) & r.c.status.in_(_GOOD) & ((r.c.id < cut) | cut.is_(None)))
            .order_by(r.c.id.desc())
            .limit(1)
        )
        return _epoch(conn.execute(query).scalar())

    def _track(self, conn: Connection, rows: list[tuple[str, str]]) -> None:
        """Insert (feed, indicator id) rows, missing 0: COPY on PostgreSQL (the first run of
        a million-value list), one prepared statement on SQLite."""
        if not rows:
            return
        if self.engine.dialect.name == "postgresql":
            driver = conn.connection.driver_connection
            assert driver is not None
            with (
                driver.cursor() as cursor,
                cursor.copy("COPY feed_values (feed, indicator_id, missing) FROM STDIN") as copy,
            ):
                for feed, indicator_id in rows:
                    copy.write_row((feed, indicator_id, 0))
            return
        conn.exec_driver_sql(
            "INSERT INTO feed_values (feed, indicator_id, missing) "
            f"VALUES ({self._ph}, {self._ph}, 0)",
            rows,
        )

    def forget_feed_values(self, name: str, ids: list[str]) -> None:
        """Stop tracking ``ids`` for feed ``name`` (withdrawn, or left to their owner)."""
        if not ids:
            return
        t = schema.feed_values
        with self._write() as conn:
            conn.execute(
                delete(t).where(
                    (t.c.feed == bindparam("f")) & (t.c.indicator_id == bindparam("i"))
                ),
                [{"f": name, "i": i} for i in ids],
            )

    def feed_events(self, name: str) -> dict[str, int]:
        """A MISP feed's manifest as of its last good run: event uuid -> timestamp."""
        t = schema.feed_events
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.c.event_uuid, t.c.timestamp).where(t.c.feed == name))
            return {str(u): int(s) for u, s in rows}

    def save_feed_events(self, name: str, events: dict[str, int]) -> None:
        """Replace MISP feed ``name``'s remembered manifest with ``events``."""
        t = schema.feed_events
        with self._write() as conn:
            conn.execute(delete(t).where(t.c.feed == name))
            if events:
                conn.execute(
                    insert(t),
                    [{"feed": name, "event_uuid": u, "timestamp": s} for u, s in events.items()],
                )

    def feed_cursor(self, name: str) -> FeedCursor:
        """TAXII feed ``name``'s cursor (an empty one before its first committed page)."""
        t = schema.feed_cursors
        with self.engine.connect() as conn:
            row = conn.execute(select(t.c.date_added_last, t.c.cut).where(t.c.feed == name)).first()
        if row is None:
            return FeedCursor()
        return FeedCursor(date_added_last=row[0], cut=bool(row[1]))

    def save_feed_cursor(self, name: str, cursor: FeedCursor, when: str) -> None:
        """Keep TAXII feed ``name``'s cursor (after a committed page, or at the end)."""
        t = schema.feed_cursors
        values = {"date_added_last": cursor.date_added_last, "cut": cursor.cut, "updated": when}
        with self._write() as conn:
            done = conn.execute(update(t).where(t.c.feed == name).values(values))
            if done.rowcount == 0:
                conn.execute(insert(t).values(feed=name, **values))


def _epoch(stamp: object) -> float | None:
    """A run's STIX timestamp as epoch seconds (None for none or an unreadable one)."""
    if not isinstance(stamp, str):
        return None
    try:
        return timestamps.parse(stamp).timestamp()
    except ValueError:
        return None


def _feed_row(row: Any) -> FeedRow:
    values = dict(row)
    values["enabled"] = bool(values["enabled"])
    values["spec"] = str(values["spec"]).encode()
    return FeedRow(**values)
