"""How the CLI shows things: rich tables and progress. No business rules here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from mburoja.ingest.pipeline import IngestReport, ProgressFn
from mburoja.store.base import QuarantineEntry, SearchResult, Stats

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} objects/s" if speed else "- objects/s", style="cyan")


@contextmanager
def ingest_progress(label: str, enabled: bool) -> Iterator[ProgressFn]:
    """A live counter with rate for a long ingest; a no-op when output is not a terminal."""
    if not enabled:
        yield lambda _done: None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TextColumn("{task.completed:,} objects"),
        _RateColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as progress:
        task = progress.add_task(escape(label), total=None)
        yield lambda done: progress.update(task, completed=done)


def report_table(report: IngestReport) -> Table:
    table = Table(title=f"ingest #{report.ingest_id}: {escape(report.source)}", show_header=False)
    table.add_column("count", style="bold")
    table.add_column("value", justify="right")
    for label, value in (
        ("received", report.received),
        ("new", report.new),
        ("new versions", report.new_versions),
        ("unchanged", report.unchanged),
        ("rejected", report.rejected),
        ("with warnings", report.warnings),
        ("dangling refs", report.dangling_refs),
    ):
        table.add_row(label, f"{value:,}")
    table.add_row("time", f"{report.elapsed_s:.2f} s ({report.rate:,.0f} objects/s)")
    return table


def print_report(report: IngestReport, show: int = 20) -> None:
    console.print(report_table(report))
    if not report.adds_up:
        err_console.print("[red]counts do not add up: this is a bug, please report it[/red]")
    for reject in report.rejects[:show]:
        console.print(f"[red]rejected[/red] {escape(str(reject))}")
    if report.rejected > show:
        console.print(f"… and {report.rejected - show:,} more")
    if report.rejected:
        console.print(
            "Rejected items are kept verbatim: see [bold]mburoja quarantine list[/bold], "
            "fix one and run [bold]mburoja quarantine replay QID --file fixed.json[/bold]."
        )


def search_table(result: SearchResult) -> Table:
    table = Table(
        title=f"{len(result.hits)} objects match {escape(result.query)!s} "
        f"({result.elapsed_ms:.1f} ms)"
    )
    for col in ("id", "type", "name", "matched", "TLP", "sources", "first seen", "last seen"):
        table.add_column(col, overflow="fold")
    for hit in result.hits:
        matched = ", ".join(f"{m.kind}:{m.value}" for m in hit.matched)
        table.add_row(
            escape(hit.id),
            hit.type + (" (revoked)" if hit.revoked else ""),
            escape(hit.name or ""),
            escape(matched),
            hit.tlp or "-",
            escape(", ".join(hit.sources)),
            hit.first_seen,
            hit.last_seen,
        )
    return table


def stats_table(stats: Stats) -> Table:
    table = Table(title="store", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("count", justify="right")
    for label, value in (
        ("objects (current)", stats.objects),
        ("versions", stats.versions),
        ("observables indexed", stats.observables),
        ("dangling refs", stats.dangling_refs),
        ("open quarantine", stats.quarantined),
        ("collections", stats.collections),
        ("ingest runs", stats.ingests),
    ):
        table.add_row(label, f"{value:,}")
    for otype, n in stats.by_type.items():
        table.add_row(f"  type {otype}", f"{n:,}")
    for tlp, n in stats.by_tlp.items():
        table.add_row(f"  TLP {tlp}", f"{n:,}")
    return table


def quarantine_table(entries: list[QuarantineEntry]) -> Table:
    table = Table(title=f"quarantine ({len(entries)} shown)")
    for col in ("qid", "status", "origin", "index", "object", "field", "reason"):
        table.add_column(col, overflow="fold")
    for e in entries:
        table.add_row(
            str(e.qid),
            e.status,
            escape(e.origin),
            str(e.index),
            escape(e.object_id or "-"),
            escape(e.field),
            escape(e.reason),
        )
    return table
