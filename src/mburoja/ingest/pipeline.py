"""The ingest pipeline: items in, prepared in batches, written, counted.

Preparing (parse, validate, index) runs on the calling thread while the previous batch is
written on one writer thread: SQLite releases the GIL while it works, so the two overlap on
two cores. Each batch is one transaction; its rejects are quarantined in that same
transaction, so a reported count is always a committed count.

The counts add up: ``received == new + new_versions + unchanged + rejected``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

import msgspec

from mburoja.config import Settings
from mburoja.ingest.prepare import prepare
from mburoja.stix.model import PreparedObject, RawObject, Reject
from mburoja.store.base import BatchResult, IngestRun, Provenance, Store

#: How many rejects a report keeps in memory for display; all are in quarantine.
REPORT_REJECTS = 200

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
    """Runs items from any source into a store."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        progress: ProgressFn | None = None,
        batch_size: int | None = None,
        quarantine_rejects: bool = True,
    ) -> None:
        self.store = store
        self.quarantine_rejects = quarantine_rejects
        self.settings = settings
        self.progress = progress
        self.batch_size = batch_size or settings.store.batch_size

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
        ingest_id = self.store.begin_ingest(source, actor)
        report = IngestReport(ingest_id=ingest_id, source=source)
        provenance = Provenance(
            source=source, actor=actor, ingest_id=ingest_id, collection=collection
        )
        limits = self.settings.limits
        objects: list[PreparedObject] = []
        rejects: list[Reject] = []
        status = "failed"
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mburoja-writer") as writer:
            pending: Future[BatchResult] | None = None

            def flush() -> None:
                nonlocal pending, objects, rejects
                if pending is not None:
                    report.add(pending.result())
                    if self.progress:
                        self.progress(report.received)
                    pending = None
                if objects or rejects:
                    to_quarantine = rejects if self.quarantine_rejects else []
                    pending = writer.submit(
                        self.store.write_batch, objects, to_quarantine, provenance
                    )
                    objects, rejects = [], []

            try:
                for item in items:
                    report.received += 1
                    if isinstance(item, Reject):
                        rejects.append(item)
                        report.rejected += 1
                        report._keep((item,))
                    else:
                        prepared = prepare(item, limits)
                        if isinstance(prepared, Reject):
                            rejects.append(prepared)
                            report.rejected += 1
                            report._keep((prepared,))
                        else:
                            objects.append(prepared)
                            if prepared.warnings:
                                report.warnings += 1
                                if len(report.warning_samples) < REPORT_REJECTS:
                                    report.warning_samples.append(
                                        f"{item.origin}[{item.index}] {prepared.id}: "
                                        + "; ".join(map(str, prepared.warnings))
                                    )
                    if len(objects) + len(rejects) >= self.batch_size:
                        flush()
                flush()
                flush()
                status = "ok"
            finally:
                if pending is not None and status != "ok":
                    # Commit what was already handed to the writer before recording failure.
                    try:
                        report.add(pending.result())
                    except Exception:
                        status = "failed"
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
