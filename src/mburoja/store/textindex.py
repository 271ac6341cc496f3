"""The full-text index behind the search page's name and word matches.

Every stored version's name, description, pattern and value go into ``text_index``
(revision 0009): on SQLite an FTS5 table with the ``trigram`` tokenizer, on PostgreSQL a
table with ``pg_trgm`` GIN indexes. Both match case-insensitive *substrings*, which is what
the search promises (``loader`` finds "LynxLoader", ``xample.co`` a domain) and what the
caller's own check of each candidate (``web.lookup``) tests again; a word tokenizer
(FTS5 ``unicode61``, ``tsvector``) would miss both. A substring shorter than three
characters has no trigram, so such words are left to that check and never narrow the index.

Ingest does not write the index: its throughput is a hard requirement and one transaction
per batch is its budget. ``index_text`` catches up afterwards on ``objects.seq``, which only
grows and is handed out under the writers' lock (so commit order is seq order): the row in
``text_index_state`` records the last seq indexed, and a catch-up holds a write lock on it
(``BEGIN IMMEDIATE`` on SQLite, ``FOR UPDATE`` on PostgreSQL) so that two processes never
index the same rows twice. ``TextIndexer`` runs it in the background of ``mburoja serve``;
a search first does a small bounded catch-up itself and reports what is still behind.

Superseded versions stay in the index; the query joins current versions only, and the
index is a prefilter: a stale or wider entry costs a candidate, never a wrong answer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from mburoja.store.browse import TextFilter, _escape

if TYPE_CHECKING:
    from mburoja.policy import Prefilter

log = logging.getLogger(__name__)

#: tables of revision 0009 (and FTS5's shadow tables) that ``schema.metadata`` does not hold
TEXT_TABLE_PREFIX = "text_index"
MIN_SUBSTRING = 3  # characters: the shortest substring a trigram index can look up
_BATCH = 2000  # versions indexed per transaction: the writers' lock is held this long
_RECENT = 20_000  # PostgreSQL: newest versions read in order before the trigram indexes
_FIELDS = ("description", "pattern", "value")


def is_declared(name: str | None, type_: str, _parents: Any) -> bool:
    """Alembic ``include_name`` hook: False for the text index's tables, which revision 0009
    builds outside ``schema.metadata``."""
    return not (type_ == "table" and name is not None and name.startswith(TEXT_TABLE_PREFIX))


def text_of(raw: bytes) -> tuple[str, str]:
    """The indexed text of one stored version: its name, and its description, pattern and
    value (one per line)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    name = body.get("name")
    rest = "\n".join(v for v in (body.get(f) for f in _FIELDS) if isinstance(v, str))
    return (name if isinstance(name, str) else ""), rest


class TextIndex:
    """Mixin of :class:`~mburoja.store.sql.SqlStore`."""

    engine: Any
    dialect: str
    _ph: str

    if TYPE_CHECKING:

        def _write(self) -> Any: ...

        def _prefilter_clause(self, pre: Prefilter) -> tuple[str, list[Any]]: ...

    # -- keeping it current ------------------------------------------------------------

    def text_backlog(self) -> int:
        """How many stored versions the index has not taken in yet."""
        with self.engine.connect() as conn:
            return int(
                conn.exec_driver_sql(
                    "SELECT count(*) FROM objects WHERE seq > "
                    "(SELECT last_seq FROM text_index_state WHERE id = 1)"
                ).scalar_one()
            )

    def index_text(self, limit: int = 5000) -> int:
        """Index up to ``limit`` stored versions after the last one indexed, in transactions
        of at most ``_BATCH``; the number indexed (0: caught up, or ``limit`` < 1)."""
        with self.engine.connect() as conn:
            behind = conn.exec_driver_sql(
                "SELECT coalesce(max(seq), 0) > (SELECT last_seq FROM text_index_state "
                "WHERE id = 1) FROM objects"
            ).scalar_one()
        if not behind:  # read-only: a search on a caught-up index takes no write lock
            return 0
        done = 0
        while done < limit:
            count = self._index_batch(min(_BATCH, limit - done))
            if count == 0:
                break
            done += count
        return done

    def _index_batch(self, limit: int) -> int:
        ph = self._ph
        pg = self.dialect == "postgresql"
        with self._write() as conn:
            last = conn.exec_driver_sql(
                "SELECT last_seq FROM text_index_state WHERE id = 1" + (" FOR UPDATE" if pg else "")
            ).scalar_one()
            rows = conn.exec_driver_sql(
                f"SELECT seq, raw FROM objects WHERE seq > {ph} ORDER BY seq LIMIT {int(limit)}",
                (int(last),),
            ).all()
            if not rows:
                return 0
            entries = []
            for seq, raw in rows:
                name, rest = text_of(bytes(raw))
                # PostgreSQL matches words in one column, so its body repeats the name
                entries.append((int(seq), name, f"{name}\n{rest}" if pg else rest))
            insert = (
                "INSERT INTO text_index (seq, name, body) VALUES (%s, %s, %s) "
                "ON CONFLICT (seq) DO NOTHING"
                if pg
                else "INSERT INTO text_index (rowid, name, body) VALUES (?, ?, ?)"
            )
            conn.exec_driver_sql(insert, entries)
            conn.exec_driver_sql(
                f"UPDATE text_index_state SET last_seq = {ph} WHERE id = 1", (entries[-1][0],)
            )
        return len(entries)

    # -- matching ------------------------------------------------------------------------

    def text_candidates(
        self,
        words: Sequence[str],
        *,
        name_phrase: str,
        narrow: TextFilter,
        prefilter: Prefilter,
        limit: int,
    ) -> list[str]:
        """Ids of current objects, newest first, whose indexed name holds ``name_phrase`` or
        whose indexed text holds every one of ``words`` (case-insensitive substrings; those
        shorter than ``MIN_SUBSTRING`` do not narrow). A prefilter: the caller confirms."""
        words = [w for w in words if len(w) >= MIN_SUBSTRING]
        use_name = len(name_phrase) >= MIN_SUBSTRING
        if not words and not use_name:
            return []
        ph = self._ph
        pg = self.dialect == "postgresql"
        params: list[Any] = []
        if pg:
            parts = []
            if use_name:
                parts.append("t.name ILIKE %s ESCAPE '\\'")
                params.append(f"%{_escape(name_phrase)}%")
            if words:
                parts.append("(" + " AND ".join(["t.body ILIKE %s ESCAPE '\\'"] * len(words)) + ")")
                params.extend(f"%{_escape(w)}%" for w in words)
            match = "(" + " OR ".join(parts) + ")"
            source = "text_index t JOIN objects o ON o.seq = t.seq"
            true = "true"
        else:
            terms = []
            if use_name:
                terms.append(f"name : {_phrase(name_phrase)}")
            if words:
                terms.append("(" + " AND ".join(_phrase(w) for w in words) + ")")
            match = "text_index MATCH ?"
            params.append(" OR ".join(terms))
            source = "text_index t JOIN objects o ON o.seq = t.rowid"
            true = "1"
        where = [match, f"o.is_current = {true}"]
        if narrow.types:
            where.append(f"o.type IN ({', '.join([ph] * len(narrow.types))})")
            params.extend(narrow.types)
        if narrow.tlp is not None:
            if narrow.tlp == "none":
                where.append("o.tlp IS NULL")
            else:
                where.append(f"o.tlp = {ph}")
                params.append(narrow.tlp)
        if narrow.since is not None:
            where.append(f"o.date_added >= {ph}")
            params.append(narrow.since)
        if narrow.until is not None:
            where.append(f"o.date_added < {ph}")
            params.append(narrow.until)
        pre_sql, pre_params = self._prefilter_clause(prefilter)
        if pre_sql:
            where.append(pre_sql)
            params.extend(pre_params)
        order = "t.seq" if pg else "t.rowid"
        query = f"SELECT o.id FROM {source} WHERE {' AND '.join(where)} ORDER BY {order} DESC"
        with self.engine.connect() as conn:
            if pg:
                # A common substring matches a large share of the index, and a bitmap scan of
                # every match then costs seconds at a million versions; the newest
                # ``_RECENT`` versions read in order cost ~20 ms. When they hold ``limit``
                # matches those are the newest of all; otherwise the trigram indexes answer
                # (the substring is rare among the newest, so rarely common overall).
                recent = conn.exec_driver_sql(
                    "WITH t AS MATERIALIZED (SELECT seq, name, body FROM text_index WHERE "
                    f"seq > (SELECT last_seq - {_RECENT} FROM text_index_state WHERE id = 1)) "
                    + query.replace(source, "t JOIN objects o ON o.seq = t.seq", 1)
                    + f" LIMIT {int(limit)}",
                    tuple(params),
                ).all()
                if len(recent) >= limit:
                    return [str(r[0]) for r in recent]
            rows = conn.exec_driver_sql(f"{query} LIMIT {int(limit)}", tuple(params)).all()
        return [str(r[0]) for r in rows]


def _phrase(text: str) -> str:
    """``text`` as one FTS5 string (with ``trigram``: a substring), quotes doubled."""
    return '"' + text.replace('"', '""') + '"'


class TextIndexer:
    """Keeps the text index current in the background of ``mburoja serve``: indexes while
    there is a backlog, then looks again every ``idle`` seconds."""

    def __init__(self, store: TextIndex, *, idle: float = 1.0, step: int = 5000) -> None:
        self.store = store
        self.idle = idle
        self.step = step
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="text-indexer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.store.index_text(self.step) > 0:
                    continue
            except Exception:  # a locked or lost database: try again later, keep serving
                log.exception("text index catch-up failed")
                self._stop.wait(self.idle * 5)
                continue
            self._stop.wait(self.idle)
