"""The prepare stage on several cores: worker processes that parse, validate and index.

Python runs one thread at a time, so on a machine with two cores the parse-and-validate
work goes to worker processes while the main process reads input and writes to the store.
Chunks go out as plain tuples of bytes and come back as one msgpack blob each (decoding a
blob costs a fraction of what preparing costs). Small inputs never start a pool: the
first ``inline_first`` items are prepared in-process, so a ten-object bundle pays no
start-up cost.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing.context import BaseContext

import msgspec

from mburoja.config import LimitSettings
from mburoja.ingest.prepare import prepare
from mburoja.stix.model import PreparedObject, RawObject, Reject

Chunk = list[tuple[bytes, str, int, bool]]
Prepared = tuple[list[PreparedObject], list[Reject]]

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(tuple[list[PreparedObject], list[Reject]])
_limits: LimitSettings | None = None


def _init_worker(limits: LimitSettings) -> None:
    global _limits
    _limits = limits
    gc.disable()  # short-lived, acyclic garbage only; see the pipeline


def _prepare_chunk(chunk: Chunk) -> bytes:
    assert _limits is not None
    return _encoder.encode(prepare_items([RawObject(*item) for item in chunk], _limits))


def prepare_items(items: Sequence[RawObject], limits: LimitSettings) -> Prepared:
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


def default_workers() -> int:
    """Worker processes to use: one per core beyond the one this process needs to decode and
    write (measured: on two cores, one worker beats two), none on a single core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max((cores or 1) - 1, 0)


class PrepareStage:
    """Prepares chunks of ``RawObject`` in order, in-process or on a process pool."""

    def __init__(
        self,
        limits: LimitSettings,
        workers: int,
        *,
        inline_first: int = 5_000,
        in_flight: int = 4,
        idle_threads: int = 1,
        before_start: Callable[[], None] | None = None,
    ) -> None:
        self.limits = limits
        self.workers = workers
        self.inline_first = inline_first
        self.in_flight = max(in_flight, workers * 2)
        self.idle_threads = idle_threads
        self.before_start = before_start
        self._seen = 0
        self._pool: ProcessPoolExecutor | None = None
        self._queue: deque[Future[bytes] | Prepared] = deque()

    def submit(self, items: list[RawObject]) -> Iterator[Prepared]:
        """Queue one chunk; yield every earlier result that is ready to keep order and
        bound the memory in flight."""
        self._seen += len(items)
        if self.workers and self._seen > self.inline_first:
            pool = self._pool or self._start()
            chunk: Chunk = [(i.raw, i.origin, i.index, i.derived) for i in items]
            self._queue.append(pool.submit(_prepare_chunk, chunk))
        else:
            self._queue.append(prepare_items(items, self.limits))
        while len(self._queue) > self.in_flight:
            yield self._result(self._queue.popleft())

    def drain(self) -> Iterator[Prepared]:
        while self._queue:
            yield self._result(self._queue.popleft())

    def close(self) -> None:
        for pending in self._queue:
            if isinstance(pending, Future):
                pending.cancel()
        self._queue.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _start(self) -> ProcessPoolExecutor:
        # fork is fast and needs no re-import. It is safe when the only other threads are the
        # caller's own idle ones (``idle_threads``, e.g. the pipeline's writer, which
        # ``before_start`` waits for); inside a web server the forkserver starts clean workers.
        context: BaseContext
        if threading.active_count() <= self.idle_threads:
            context = multiprocessing.get_context("fork")
        else:
            server = multiprocessing.get_context("forkserver")
            server.set_forkserver_preload(["mburoja.ingest.prepare"])
            context = server
        if self.before_start is not None:
            self.before_start()
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(self.limits,),
        )
        return self._pool

    @staticmethod
    def _result(pending: Future[bytes] | Prepared) -> Prepared:
        if isinstance(pending, Future):
            return _decoder.decode(pending.result())
        return pending
