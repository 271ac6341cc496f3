"""Ingest on several cores: worker processes that prepare *and write* chunks.

Python runs one thread at a time, and preparing an object (parse, validate, index) costs
about as much as writing it. So past the first few thousand objects of an input, each chunk
goes to a worker process that prepares it and writes it to the store itself, in one
transaction. Writers queue on the store's write lock (SQLite ``BEGIN IMMEDIATE``, a
PostgreSQL advisory lock), so while one worker writes, the other prepares: on two cores the
two halves of the work overlap. Only small counts come back to the caller.

Small inputs never start a pool: the caller prepares and writes them in-process.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing.context import BaseContext
from typing import Any

import msgspec

from mburoja.config import LimitSettings
from mburoja.ingest.prepare import prepare
from mburoja.stix.model import PreparedObject, RawObject, Reject
from mburoja.store.base import BatchResult, IngestCounts, Provenance

log = logging.getLogger(__name__)

#: How many rejects and warnings a chunk reports back in full (all are in quarantine).
SAMPLES = 200

Chunk = list[tuple[bytes, str, int, bool]]


class ChunkResult(IngestCounts, kw_only=True):
    """What one chunk did, as counts plus a few samples for the report."""

    rejects: list[Reject] = msgspec.field(default_factory=list)
    warning_samples: list[str] = msgspec.field(default_factory=list)


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(ChunkResult)


class _Worker:
    """Per-process state, set once by the pool initializer."""

    store: object = None
    lock: Any = None
    limits: LimitSettings | None = None
    provenance: Provenance | None = None
    quarantine: bool = True


def _init_worker(
    store_url: str, lock: Any, limits: LimitSettings, provenance: Provenance, quarantine: bool
) -> None:
    from mburoja.store.sql import SqlStore  # the worker's own connections, never the parent's

    _Worker.store = SqlStore(store_url)
    _Worker.lock = lock
    _Worker.limits = limits
    _Worker.provenance = provenance
    _Worker.quarantine = quarantine
    gc.disable()  # short-lived, acyclic garbage only; see the pipeline


def _ingest_chunk(chunk: Chunk) -> bytes:
    from mburoja.store.sql import SqlStore

    store = _Worker.store
    assert isinstance(store, SqlStore) and _Worker.limits and _Worker.provenance
    good, bad = prepare_items([RawObject(*item) for item in chunk], _Worker.limits)
    # The store serialises writers anyway; this lock only makes the next one start the
    # moment the last one commits (SQLite's busy handler would poll with growing sleeps).
    with _Worker.lock:
        batch = store.write_batch(good, bad if _Worker.quarantine else [], _Worker.provenance)
    return _encoder.encode(summarise(good, bad, batch))


def prepare_items(
    items: Sequence[RawObject], limits: LimitSettings
) -> tuple[list[PreparedObject], list[Reject]]:
    """Prepare ``items`` in this process: the good objects and the rejects, in order."""
    good: list[PreparedObject] = []
    bad: list[Reject] = []
    for item in items:
        result = prepare(item, limits)
        if isinstance(result, Reject):
            bad.append(result)
        else:
            good.append(result)
    return good, bad


def summarise(
    good: Sequence[PreparedObject], bad: Sequence[Reject], batch: BatchResult
) -> ChunkResult:
    """Counts for one written chunk: prepare rejects plus store rejects, and warnings."""
    warned = [obj for obj in good if obj.warnings]
    return ChunkResult(
        new=batch.new,
        new_versions=batch.new_versions,
        unchanged=batch.unchanged,
        rejected=len(bad) + batch.rejected,
        warnings=len(warned),
        rejects=(list(bad) + batch.rejects)[:SAMPLES],
        warning_samples=warning_lines(warned, SAMPLES),
    )


def warning_lines(objects: Sequence[PreparedObject], limit: int) -> list[str]:
    """One line per object with warnings, naming its place, its id and the warnings."""
    return [
        f"{obj.origin}[{obj.index}] {obj.id}: " + "; ".join(map(str, obj.warnings))
        for obj in objects[:limit]
        if obj.warnings
    ]


def default_workers() -> int:
    """Worker processes to use: one per core, none on a single core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return cores if (cores or 1) > 1 else 0  # type: ignore[return-value]


class WriterPool:
    """Worker processes that each prepare and write whole chunks, results in order."""

    def __init__(
        self,
        store_url: str,
        limits: LimitSettings,
        provenance: Provenance,
        workers: int,
        *,
        quarantine: bool = True,
        own_threads: str = "mburoja-writer",
        before_start: Callable[[], None] | None = None,
    ) -> None:
        self.store_url = store_url
        self.limits = limits
        self.provenance = provenance
        self.workers = workers
        self.quarantine = quarantine
        self.in_flight = workers * 2
        self.own_threads = own_threads
        self.before_start = before_start
        self._pool: ProcessPoolExecutor | None = None
        self._queue: deque[Future[bytes]] = deque()
        self.lock: Any = None

    def submit(self, items: list[RawObject]) -> Iterator[ChunkResult]:
        """Queue one chunk; yield earlier results as they are needed to bound memory."""
        pool = self._pool or self._start()
        chunk: Chunk = [(i.raw, i.origin, i.index, i.derived) for i in items]
        self._queue.append(pool.submit(_ingest_chunk, chunk))
        while len(self._queue) > self.in_flight:
            yield _decoder.decode(self._queue.popleft().result())

    def drain(self) -> Iterator[ChunkResult]:
        while self._queue:
            yield _decoder.decode(self._queue.popleft().result())

    def close(self) -> None:
        """Stop the workers. Chunks already running finish (each is one transaction)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._queue.clear()

    def _start(self) -> ProcessPoolExecutor:
        # fork is fast and needs no re-import. It is safe when the only other threads are
        # the caller's own (named ``own_threads…``), which ``before_start`` quiesces; with
        # anyone else's threads (a web server, a progress display) the forkserver starts
        # clean workers instead.
        me = threading.current_thread()
        foreign = [
            t
            for t in threading.enumerate()
            if t is not me and not t.name.startswith(self.own_threads)
        ]
        context: BaseContext
        if not foreign:
            context = multiprocessing.get_context("fork")
        else:
            server = multiprocessing.get_context("forkserver")
            server.set_forkserver_preload(["mburoja.ingest.prepare", "mburoja.store.sql"])
            context = server
        if self.before_start is not None:
            self.before_start()
        self.lock = context.Lock()
        log.info(
            "preparing and writing on %d worker processes (%s)",
            self.workers,
            context.get_start_method(),
        )
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(self.store_url, self.lock, self.limits, self.provenance, self.quarantine),
        )
        return self._pool
