"""Index changes, announced to the match workers through a JetStream key-value bucket.

Every worker reads the indicators from the store, the source of truth. The key
:data:`INDEX_KEY` of the bucket (``detect.announce_bucket``, :data:`DEFAULT_BUCKET`) only
says "look now": whoever commits indicators puts the store's latest sequence there
(:func:`announce_index`, :class:`IndexAnnouncer`), and each worker, watching the key
(:class:`IndexWatch`), refreshes its index before its next batch. Workers also refresh every
``detect.refresh_s`` whatever the bucket says. No process pushes indexes around.

**Ingest announces.** With ``detect.announce_url`` set, every ingest run (the CLI, a TAXII
POST, a federation pull: all go through ``Ingestor``) that stored an indicator, a new one or
a new version (a revocation is one), calls :func:`announce_ingest` once its batches are
committed. Announcing is best effort: when NATS cannot be reached, the ingest stands, a
warning says what to do, the workers see the change within ``refresh_s``, and this process
does not try that bucket again for :data:`RETRY_AFTER_S` (a NATS outage must not slow every
ingest down by a connect timeout).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import threading
import time
from collections.abc import Coroutine
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from mburoja.config import DetectSettings
from mburoja.errors import ConfigError
from mburoja.store.detection import Detection

__all__ = [
    "DEFAULT_BUCKET",
    "INDEX_KEY",
    "IndexAnnouncer",
    "IndexWatch",
    "announce_index",
    "announce_ingest",
    "close_announcers",
    "connect",
    "server_url",
]

log = logging.getLogger(__name__)

DEFAULT_BUCKET: Final = DetectSettings().announce_bucket
#: The key of the index bucket whose changes tell workers to look at the store now.
INDEX_KEY: Final = "indicators"
#: After a failed announcement, how long this process leaves that bucket alone.
RETRY_AFTER_S: Final = 30.0
#: How long an ingest may wait for NATS (connect, then each announcement).
INGEST_TIMEOUT_S: Final = 3.0
T = TypeVar("T")


def server_url(url: str) -> str:
    """``nats://host:port/anything`` → ``nats://host:port``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else url


async def connect(server: str, name: str, wait_s: float = 10.0) -> NATS:
    """A connection that, once made, reconnects for as long as it takes (a NATS restart
    must not end the workers), but that fails within ``wait_s`` when the server cannot be
    reached at first (a wrong URL must say so)."""
    said: list[str] = []

    async def error(exc: Exception) -> None:
        if str(exc) not in said[-1:]:  # one line per new problem, not one per retry
            said.append(str(exc))
            log.warning("NATS %s: %s", server, exc or type(exc).__name__)

    try:
        return await asyncio.wait_for(
            nats.connect(
                server,
                name=name,
                connect_timeout=min(wait_s, 5.0),
                max_reconnect_attempts=-1,
                error_cb=error,
            ),
            wait_s,
        )
    except (TimeoutError, OSError, nats.errors.Error) as exc:
        why = said[-1] if said else (str(exc) or type(exc).__name__)
        raise ConfigError(
            f"cannot reach NATS at {server}: {why}; is nats-server running there (with -js)?"
        ) from exc


async def open_bucket(js: JetStreamContext, bucket: str) -> KeyValue:
    """The index bucket, created (one value of history) when missing."""
    try:
        return await js.key_value(bucket)
    except nats.js.errors.BucketNotFoundError:
        try:
            return await js.create_key_value(
                bucket=bucket, history=1, description="mburoja: look at the store now"
            )
        except nats.js.errors.BadRequestError:  # created by another process meanwhile
            return await js.key_value(bucket)


async def announce_index(nc_or_url: NATS | str, bucket: str = DEFAULT_BUCKET, seq: int = 0) -> int:
    """Tell every worker watching ``bucket`` to refresh its index now: put ``seq`` (the
    store sequence of the last commit) under :data:`INDEX_KEY`. Returns the bucket revision.
    A URL (``nats://host:port``, a path is ignored) is connected to and closed again."""
    if isinstance(nc_or_url, NATS):
        nc = nc_or_url
    else:
        nc = await connect(server_url(nc_or_url), "mburoja-announcer")
    try:
        kv = await open_bucket(nc.jetstream(), bucket)
        return await kv.put(INDEX_KEY, str(seq).encode())
    finally:
        if nc is not nc_or_url:
            await nc.close()


class IndexAnnouncer:
    """:func:`announce_index` for synchronous code: connects once, then ``announce(seq)``
    as often as needed. The connection lives on an event loop of its own thread."""

    def __init__(self, url: str, bucket: str = DEFAULT_BUCKET, *, timeout_s: float = 10.0):
        self.bucket = bucket
        self.timeout_s = timeout_s
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="mburoja-announcer", daemon=True
        )
        self._thread.start()
        try:
            opening = connect(server_url(url), "mburoja-announcer", wait_s=timeout_s)
            self._nc = asyncio.run_coroutine_threadsafe(opening, self._loop).result(timeout_s + 5)
        except BaseException:
            self._stop_loop()
            raise

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self.timeout_s)

    def announce(self, seq: int) -> int:
        return self._call(announce_index(self._nc, self.bucket, seq))

    def close(self) -> None:
        if not self._loop.is_closed():
            try:
                self._call(self._nc.close())
            finally:
                self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(self.timeout_s)
        self._loop.close()

    def __enter__(self) -> IndexAnnouncer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class IndexWatch:
    """A worker's watch on :data:`INDEX_KEY`: ``wanted`` is set at each change made after
    the watch started (the value found at start is not news), ``changes`` counts them."""

    def __init__(self) -> None:
        self.wanted = asyncio.Event()
        self.changes = 0
        self._watcher: KeyValue.KeyWatcher | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, js: JetStreamContext, bucket: str) -> None:
        kv = await open_bucket(js, bucket)
        self._watcher = await kv.watch(INDEX_KEY)
        self._task = asyncio.create_task(self._follow(self._watcher))

    async def _follow(self, watcher: KeyValue.KeyWatcher) -> None:
        started = False  # values before the first None are the state at start, not news
        while True:
            entry = await watcher.updates(timeout=None)
            if entry is None:
                started = True
                continue
            if not isinstance(entry, KeyValue.Entry):  # the watcher was stopped
                return
            if started and entry.operation is None:
                self.changes += 1
                self.wanted.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._watcher is not None:
            try:
                await asyncio.wait_for(self._watcher.stop(), 10.0)
            except (TimeoutError, nats.errors.Error, OSError) as exc:
                log.debug("stopping the index watch failed: %s", exc)


# -- announcing from ingest ----------------------------------------------------------------

_LOCK = threading.Lock()
_ANNOUNCERS: dict[tuple[str, str], IndexAnnouncer] = {}
_QUIET_UNTIL: dict[tuple[str, str], float] = {}
_AT_EXIT: list[bool] = []  # whether close_announcers is registered with atexit


def announce_ingest(store: object, settings: DetectSettings, ingest_id: int) -> bool:
    """After ingest run ``ingest_id``: when it stored an indicator, announce the store's
    latest sequence on ``settings.announce_url``. Whether an announcement went out; never
    raises (see the module docstring). A store that cannot tell what a run stored is
    announced for every run."""
    url, bucket = settings.announce_url, settings.announce_bucket
    if not url:
        return False
    seq = 0
    try:
        if isinstance(store, Detection):
            if not store.ingest_stored_indicators(ingest_id):
                return False
            seq = store.last_seq()
        return _announce(url, bucket, seq)
    except Exception as exc:  # announcing is best effort: the ingest is committed
        log.warning("announcing ingest run %d failed: %s", ingest_id, exc, exc_info=exc)
        return False


def _announce(url: str, bucket: str, seq: int) -> bool:
    key = (url, bucket)
    with _LOCK:
        if time.monotonic() < _QUIET_UNTIL.get(key, 0.0):
            return False
        announcer = _ANNOUNCERS.get(key)
        try:
            if announcer is None:
                if not _AT_EXIT:
                    atexit.register(close_announcers)
                    _AT_EXIT.append(True)
                announcer = IndexAnnouncer(url, bucket, timeout_s=INGEST_TIMEOUT_S)
                _ANNOUNCERS[key] = announcer
            announcer.announce(seq)
        except (ConfigError, TimeoutError, OSError, nats.errors.Error) as exc:
            _ANNOUNCERS.pop(key, None)
            if announcer is not None:
                with contextlib.suppress(Exception):
                    announcer.close()
            _QUIET_UNTIL[key] = time.monotonic() + RETRY_AFTER_S
            log.warning(
                "could not announce new indicators to the match workers (NATS %s, bucket %s): "
                "%s -- the ingest is stored, and the workers see it within detect.refresh_s; "
                'start nats-server with -js there, or set detect.announce_url to "" to stop '
                "announcing (next try in %.0f s)",
                server_url(url),
                bucket,
                exc or type(exc).__name__,
                RETRY_AFTER_S,
            )
            return False
    return True


def close_announcers() -> None:
    """Close the connections :func:`announce_ingest` keeps (at exit, or in tests)."""
    with _LOCK:
        announcers = list(_ANNOUNCERS.values())
        _ANNOUNCERS.clear()
        _QUIET_UNTIL.clear()
    for announcer in announcers:
        with contextlib.suppress(Exception):
            announcer.close()
