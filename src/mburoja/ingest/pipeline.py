"""The ingest pipeline: items in, prepared in batches, written, counted.

Small inputs are prepared (parse, validate, index) in this process and written by one
writer thread. Past ``parallel_after`` objects, whole chunks go to worker processes that
prepare and write them (see ``ingest.workers``). Each batch or chunk is one transaction;
its rejects are quarantined in that same transaction, so a reported count is always a
committed count.

The counts add up: ``received == new + new_versions + unchanged + rejected``.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import msgspec

from mburoja.config import Settings
from mburoja.ingest.workers import (
    ChunkResult,
    WriterPool,
    default_workers,
    prepare_items,
    warning_lines,
)
from mburoja.stix.model import PreparedObject, RawObject, Reject
from mburoja.store.base import BatchResult, IngestCounts, Provenance, Store

log = logging.getLogger(__name__)

#: How many rejects a report keeps in memory for display; all are in quarantine.
REPORT_REJECTS = 200
WRITER_THREAD = "mburoja-writer"
#: Items per chunk handed to the prepare stage.
CHUNK = 2000

ProgressFn = Callable[[int], None]
#: Called with the running report after each batch or chunk is committed.
CommitFn = Callable[["IngestReport"], None]
WriteFn = Callable[[Sequence[PreparedObject], Sequence[Reject], Provenance], BatchResult]


class IngestReport(IngestCounts, kw_only=True):
    """The outcome of one ingest run: its counts, time, and samples of what went wrong."""

    ingest_id: int
    source: str
    elapsed_s: float = 0.0
    rejects: list[Reject] = msgspec.field(default_factory=list)
    warning_samples: list[str] = msgspec.field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.received / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def merge(self, chunk: ChunkResult) -> None:
        """Add what a worker's chunk did (its items were counted as received already)."""
        self.new += chunk.new
        self.new_versions += chunk.new_versions
        self.unchanged += chunk.unchanged
        self.rejected += chunk.rejected
        self.warnings += chunk.warnings
        self._keep(chunk.rejects)
        room = max(REPORT_REJECTS - len(self.warning_samples), 0)
        self.warning_samples.extend(chunk.warning_samples[:room])

    def add(self, batch: BatchResult) -> None:
        self.new += batch.new
        self.new_versions += batch.new_versions
        self.unchanged += batch.unchanged
        self.rejected += batch.rejected
        self._keep(batch.rejects)

    def _keep(self, rejects: Iterable[Reject]) -> None:
        room = REPORT_REJECTS - len(self.rejects)
        if room > 0:
            self.rejects.extend(list(rejects)[:room])


class Ingestor:
    """Runs items from any source into a store.

    ``workers`` worker processes prepare and write chunks once an input passes
    ``parallel_after`` items (default: one per core; 0 does everything in this process).
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        progress: ProgressFn | None = None,
        batch_size: int | None = None,
        quarantine_rejects: bool = True,
        workers: int | None = None,
        parallel_after: int = 5_000,
        on_commit: CommitFn | None = None,
    ) -> None:
        self.store = store
        self.quarantine_rejects = quarantine_rejects
        self.settings = settings
        self.progress = progress
        self.batch_size = batch_size or settings.store.batch_size
        self.workers = default_workers() if workers is None else workers
        self.parallel_after = parallel_after
        self.on_commit = on_commit

    def run(
        self,
        items: Iterable[RawObject | Reject],
        *,
        source: str,
        actor: str = "cli",
        collection: str | None = None,
        owner: str | None = None,
        relay: dict[str, Any] | None = None,
    ) -> IngestReport:
        """Ingest ``items``; returns the report once everything is committed. What is added
        belongs to organisation ``owner`` (None: the home organisation).

        An exception from the source (an unreadable file, a refused URL) stops the run after
        committing what came before it; the run is recorded as ``failed`` and re-raised.
        """
        started = time.perf_counter()
        # A bulk load allocates millions of small, acyclic objects; the cyclic collector
        # would walk them over and over for nothing. It is switched back on at the end.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        ingest_id = self.store.begin_ingest(source, actor)
        report = IngestReport(ingest_id=ingest_id, source=source)
        status = "failed"
        try:
            self._run(
                items,
                report,
                Provenance(
                    source=source,
                    actor=actor,
                    ingest_id=ingest_id,
                    collection=collection,
                    owner=owner,
                    relay=relay,
                ),
            )
            status = "ok"
        finally:
            if gc_was_enabled:
                gc.enable()
            report.elapsed_s = time.perf_counter() - started
            if status == "ok":
                report.dangling_refs = self.store.dangling_refs(ingest_id)
            self.store.finish_ingest(ingest_id, status, report)
            self._announce(report)
        return report

    def _announce(self, report: IngestReport) -> None:
        """With ``detect.announce_url`` set, tell the match workers when the run stored an
        indicator (see ``detect.announce``); what it committed counts, even if it failed
        later. Never raises: the ingest is committed whatever NATS says."""
        if not self.settings.detect.announce_url or not (report.new or report.new_versions):
            return
        from mburoja.detect.announce import announce_ingest  # loads NATS only when used

        announce_ingest(self.store, self.settings.detect, report.ingest_id)

    def _run(
        self, items: Iterable[RawObject | Reject], report: IngestReport, provenance: Provenance
    ) -> None:
        objects: list[PreparedObject] = []
        rejects: list[Reject] = []
        # In-process path: one writer thread, because SQLite releases the GIL inside each
        # statement, so writing a batch overlaps with preparing the next one.
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=WRITER_THREAD)
        pending: Future[BatchResult] | None = None
        pool: WriterPool | None = None

        def settle() -> None:
            """Wait for the batch being written in-process and count it."""
            nonlocal pending
            if pending is not None:
                done, pending = pending, None
                report.add(done.result())
                self._tick(report)

        def flush() -> None:
            """Hand what was gathered in-process to the writer thread (one transaction)."""
            nonlocal pending, objects, rejects
            settle()
            if objects or rejects:
                to_quarantine = rejects if self.quarantine_rejects else []
                write: WriteFn = self.store.write_batch
                if pool is not None and pool.lock is not None:
                    write = _holding(pool.lock, write)
                pending = writer.submit(write, objects, to_quarantine, provenance)
                objects, rejects = [], []

        def absorb_chunk(result: ChunkResult) -> None:
            report.merge(result)
            self._tick(report)

        def prepare_here(chunk: list[RawObject]) -> None:
            good, bad = prepare_items(chunk, self.settings.limits)
            objects.extend(good)
            rejects.extend(bad)
            report.rejected += len(bad)
            report._keep(bad)
            warned = [obj for obj in good if obj.warnings]
            report.warnings += len(warned)
            room = max(REPORT_REJECTS - len(report.warning_samples), 0)
            report.warning_samples.extend(warning_lines(warned, room))
            if len(objects) + len(rejects) >= self.batch_size:
                flush()

        def start_pool() -> WriterPool:
            flush()
            if provenance.collection:
                self.store.ensure_collection(provenance.collection)  # no race between workers
            return WriterPool(
                self.store.url,
                self.settings.limits,
                provenance,
                self.workers,
                quarantine=self.quarantine_rejects,
                own_threads=WRITER_THREAD,
                before_start=settle,
            )

        try:
            chunk: list[RawObject] = []
            size = CHUNK
            for item in items:
                report.received += 1
                if isinstance(item, Reject):
                    rejects.append(item)
                    report.rejected += 1
                    report._keep((item,))
                    continue
                chunk.append(item)
                if len(chunk) < size:
                    continue
                if pool is None and self.workers and report.received > self.parallel_after:
                    pool = start_pool()
                    size = self.batch_size
                if pool is not None:
                    for result in pool.submit(chunk):
                        absorb_chunk(result)
                    if len(rejects) >= self.batch_size:
                        flush()
                else:
                    prepare_here(chunk)
                chunk = []
            if chunk:
                if pool is not None:
                    for result in pool.submit(chunk):
                        absorb_chunk(result)
                else:
                    prepare_here(chunk)
            if pool is not None:
                for result in pool.drain():
                    absorb_chunk(result)
            flush()
            settle()
        finally:
            if pool is not None:
                pool.close()
            try:
                # Whatever was handed to the writer is committed (or failed) before we return.
                settle()
            except Exception:
                log.exception("the batch being written when the run stopped failed too")
            writer.shutdown(wait=True)

    def _tick(self, report: IngestReport) -> None:
        if self.progress:
            self.progress(report.received)
        if self.on_commit:
            self.on_commit(report)


def _holding(lock: Any, write: WriteFn) -> WriteFn:
    """``write`` taken in turn with the workers' writes (see ``ingest.workers``)."""

    def locked(
        objects: Sequence[PreparedObject], rejects: Sequence[Reject], provenance: Provenance
    ) -> BatchResult:
        with lock:
            return write(objects, rejects, provenance)

    return locked
