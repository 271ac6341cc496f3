"""The ingest pipeline: items in, prepared in batches, written, counted.

Preparing (parse, validate, index) runs in worker processes once an input is large (see
``ingest.workers``); this process decodes their results, classifies versions, and hands each
batch to one writer thread. Each batch is one transaction; its rejects are quarantined in
that same transaction, so a reported count is always a committed count.

The counts add up: ``received == new + new_versions + unchanged + rejected``.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

import msgspec

from mburoja.config import Settings
from mburoja.ingest.workers import PrepareStage, default_workers
from mburoja.stix.model import PreparedObject, RawObject, Reject
from mburoja.store.base import BatchResult, IngestRun, Provenance, Store

log = logging.getLogger(__name__)

#: How many rejects a report keeps in memory for display; all are in quarantine.
REPORT_REJECTS = 200
#: Items per chunk handed to the prepare stage.
CHUNK = 2000

ProgressFn = Callable[[int], None]


class IngestReport(msgspec.Struct, kw_only=True):
    """The outcome of one ingest run."""

    ingest_id: int
    source: str
    received: int = 0
    new: int = 0
    new_versions: int = 0
    unchanged: int = 0
    rejected: int = 0
    warnings: int = 0
    dangling_refs: int = 0
    elapsed_s: float = 0.0
    rejects: list[Reject] = msgspec.field(default_factory=list)
    warning_samples: list[str] = msgspec.field(default_factory=list)

    @property
    def adds_up(self) -> bool:
        return self.received == self.new + self.new_versions + self.unchanged + self.rejected

    @property
    def rate(self) -> float:
        return self.received / self.elapsed_s if self.elapsed_s > 0 else 0.0

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

    ``workers`` worker processes prepare objects once an input passes ``parallel_after``
    items (default: one per core; 0 prepares everything in this process).
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
    ) -> None:
        self.store = store
        self.quarantine_rejects = quarantine_rejects
        self.settings = settings
        self.progress = progress
        self.batch_size = batch_size or settings.store.batch_size
        self.workers = default_workers() if workers is None else workers
        self.parallel_after = parallel_after

    def run(
        self,
        items: Iterable[RawObject | Reject],
        *,
        source: str,
        actor: str = "cli",
        collection: str | None = None,
    ) -> IngestReport:
        """Ingest ``items``; returns the report once everything is committed.

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
                Provenance(source=source, actor=actor, ingest_id=ingest_id, collection=collection),
            )
            status = "ok"
        finally:
            if gc_was_enabled:
                gc.enable()
            report.elapsed_s = time.perf_counter() - started
            if status == "ok":
                report.dangling_refs = self.store.dangling_refs(ingest_id)
            self.store.finish_ingest(
                IngestRun(
                    id=ingest_id,
                    source=source,
                    actor=actor,
                    started="",
                    finished=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    status=status,
                    received=report.received,
                    new=report.new,
                    new_versions=report.new_versions,
                    unchanged=report.unchanged,
                    rejected=report.rejected,
                    warnings=report.warnings,
                    dangling_refs=report.dangling_refs,
                )
            )
        return report

    def _run(
        self, items: Iterable[RawObject | Reject], report: IngestReport, provenance: Provenance
    ) -> None:
        objects: list[PreparedObject] = []
        rejects: list[Reject] = []
        # One writer thread: SQLite releases the GIL inside each statement, so writing a
        # batch overlaps with decoding and classifying the next one.
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mburoja-writer")
        pending: Future[BatchResult] | None = None

        def settle() -> None:
            """Wait for the batch being written and count it."""
            nonlocal pending
            if pending is not None:
                done, pending = pending, None
                report.add(done.result())
                if self.progress:
                    self.progress(report.received)

        def flush() -> None:
            """Hand the batch gathered so far to the writer (one transaction)."""
            nonlocal pending, objects, rejects
            settle()
            if objects or rejects:
                to_quarantine = rejects if self.quarantine_rejects else []
                pending = writer.submit(self.store.write_batch, objects, to_quarantine, provenance)
                objects, rejects = [], []

        # The worker pool forks only while the writer is idle (settle), never mid-statement.
        stage = PrepareStage(
            self.settings.limits,
            self.workers,
            inline_first=self.parallel_after,
            idle_threads=2,  # this thread and the writer
            before_start=settle,
        )

        def absorb(prepared: tuple[list[PreparedObject], list[Reject]]) -> None:
            good, bad = prepared
            objects.extend(good)
            rejects.extend(bad)
            report.rejected += len(bad)
            report._keep(bad)
            for obj in good:
                if obj.warnings:
                    report.warnings += 1
                    if len(report.warning_samples) < REPORT_REJECTS:
                        report.warning_samples.append(
                            f"{obj.origin}[{obj.index}] {obj.id}: "
                            + "; ".join(map(str, obj.warnings))
                        )
            if len(objects) + len(rejects) >= self.batch_size:
                flush()

        try:
            chunk: list[RawObject] = []
            for item in items:
                report.received += 1
                if isinstance(item, Reject):
                    rejects.append(item)
                    report.rejected += 1
                    report._keep((item,))
                    continue
                chunk.append(item)
                if len(chunk) >= CHUNK:
                    for prepared in stage.submit(chunk):
                        absorb(prepared)
                    chunk = []
            if chunk:
                for prepared in stage.submit(chunk):
                    absorb(prepared)
            for prepared in stage.drain():
                absorb(prepared)
            flush()
            settle()
        finally:
            stage.close()
            try:
                # Whatever was handed to the writer is committed (or failed) before we return.
                settle()
            except Exception:
                log.exception("the batch being written when the run stopped failed too")
            writer.shutdown(wait=True)
