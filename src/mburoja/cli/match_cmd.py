"""``mburoja match``: telemetry against the active indicators, hits into sightings."""

from __future__ import annotations

import gzip
import sys
import threading
import time
from pathlib import Path
from typing import IO, Annotated

import typer
from rich.table import Table

from mburoja.cli.common import guard, opened
from mburoja.cli.render import console, err_console
from mburoja.config import Settings
from mburoja.detect.columnar import ColumnarMatcher
from mburoja.detect.model import BadLine
from mburoja.detect.pipeline import Detector, Outcome
from mburoja.detect.readers import ReadStats, read


class RunTotals:
    """Counts across every input of one run, for the progress line and the summary."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.records = 0
        self.bad = 0
        self.ignored = 0
        self.bad_lines: list[BadLine] = []
        self.outcome = Outcome()
        self._said = self.started

    def add(self, outcome: Outcome, records: int | None = None) -> None:
        self.outcome.add(outcome)
        self.records += outcome.records if records is None else records

    def rate(self) -> float:
        return self.records / max(time.perf_counter() - self.started, 1e-9)

    def tick(self, label: str, *, force: bool = False) -> None:
        now = time.perf_counter()
        if force or now - self._said >= 2.0:
            self._said = now
            o = self.outcome
            err_console.print(
                f"{label}: {self.records:,} records ({self.rate():,.0f}/s), {o.hits:,} hits, "
                f"{o.new_hits:,} new, {self.bad:,} bad lines",
                highlight=False,
            )


def _is_zeek_tsv(path: str) -> bool:
    if path == "-" or not Path(path).is_file():
        return False
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        return f.readline().startswith(b"#separator")


def _count(totals: RunTotals, stats: ReadStats, counted: ReadStats) -> None:
    """Add what ``stats`` has gained since ``counted`` (which is then brought up to it)."""
    totals.records += stats.records - counted.records
    totals.bad += stats.bad - counted.bad
    totals.ignored += stats.ignored - counted.ignored
    totals.bad_lines.extend(stats.bad_lines[len(counted.bad_lines) :])
    counted.records, counted.bad, counted.ignored = stats.records, stats.bad, stats.ignored
    counted.bad_lines = list(stats.bad_lines)


def _mapping(pairs: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or ():
        field, sep, kind = pair.partition("=")
        if not sep or not field or not kind:
            raise typer.BadParameter(f"--map {pair!r}: write FIELD=KIND, e.g. --map qname=domain")
        out[field] = kind
    return out


def match(
    ctx: typer.Context,
    inputs: Annotated[
        list[str] | None,
        typer.Argument(help="Log files (.gz too), or - for stdin. Not with --source."),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="auto, zeek, eve, squid, csv or jsonl.")
    ] = "auto",
    log: Annotated[
        str | None, typer.Option(help="Log type where the input does not say (e.g. dns).")
    ] = None,
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help="csv/jsonl: FIELD=KIND (domain, ip, url, sha256...)."),
    ] = None,
    ts_field: Annotated[str | None, typer.Option(help="csv/jsonl: the time field.")] = None,
    id_field: Annotated[str | None, typer.Option(help="csv/jsonl: the record id field.")] = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep reading as the log grows (tail -F).")
    ] = False,
    matcher: Annotated[
        str | None, typer.Option(help="columnar (default) or reference (low memory).")
    ] = None,
    alerts: Annotated[
        str | None, typer.Option(help="Write one JSON line per new hit here (- for stdout).")
    ] = None,
    webhook: Annotated[
        str | None, typer.Option(help="POST the alert lines (NDJSON) to this URL.")
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(help="nats://host:port/subject: consume a JetStream stream instead."),
    ] = None,
    stream: Annotated[str | None, typer.Option(help="NATS: the stream (default: found).")] = None,
    durable: Annotated[
        str, typer.Option(help="NATS: the consumer group shared by workers.")
    ] = "mburoja-match",
    publish: Annotated[
        str | None, typer.Option(help="NATS: publish sightings to this subject too.")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Records per micro-batch.")] = None,
    ack_wait: Annotated[float, typer.Option(help="NATS: seconds before redelivery.")] = 30.0,
    idle_exit: Annotated[
        float | None, typer.Option(help="NATS: stop after this many idle seconds.")
    ] = None,
) -> None:
    """Match telemetry against the active indicators; store sightings and write alerts.

    Zeek (TSV/JSON), Suricata EVE, Squid, CSV and JSON Lines; a Zeek TSV file is matched
    whole in DuckDB. Sightings go to the ``sightings`` collection (TLP:AMBER by default).
    """
    settings: Settings = ctx.obj
    if bool(inputs) == bool(source):
        raise typer.BadParameter("give log files (or -) or --source nats://..., one of them")
    size = batch_size or settings.detect.batch_size
    sink: IO[str] | None = None
    if alerts == "-":
        sink = sys.stdout
    elif alerts:
        sink = open(alerts, "a", encoding="utf-8")  # noqa: SIM115 - closed below
    with opened(ctx) as store:
        detector = guard(
            lambda: Detector(store, settings, matcher=matcher, alerts=sink, webhook=webhook)
        )
        try:
            detector.refresh()
            report = detector.feed.report()
            err_console.print(
                f"index: {report.active:,} active indicators ({detector.matcher.name}), "
                f"{sum(report.not_compiled.values()):,} not compiled, built in "
                f"{detector.index_build_s:.2f} s",
                highlight=False,
            )
            for reason, count in list(report.not_compiled.items())[:5]:
                err_console.print(f"  not compiled: {count:,} x {reason}", highlight=False)
            totals = RunTotals()
            if source:
                _stream(detector, settings, totals, source, stream, durable, publish, size,
                        ack_wait, idle_exit, fmt, log)  # fmt: skip
            else:
                for path in inputs or ():
                    _one_input(detector, settings, totals, path, fmt, log, map_, ts_field,
                               id_field, follow, size)  # fmt: skip
            totals.tick("done", force=True)
            _summary(totals)
        finally:
            detector.close()
            if sink is not None and sink is not sys.stdout:
                sink.close()


def _one_input(
    detector: Detector,
    settings: Settings,
    totals: RunTotals,
    path: str,
    fmt: str,
    log: str | None,
    map_: list[str] | None,
    ts_field: str | None,
    id_field: str | None,
    follow: bool,
    size: int,
) -> None:
    matcher = detector.matcher
    if (
        isinstance(matcher, ColumnarMatcher)
        and not follow
        and fmt in ("auto", "zeek")
        and _is_zeek_tsv(path)
    ):
        scan = matcher.scan_zeek(path, size)
        counted = ReadStats()
        for batch in scan:
            totals.add(detector.process(batch, scan.hits(batch)), records=0)
            _count(totals, scan.stats, counted)
            totals.tick(path)
        _count(totals, scan.stats, counted)
        return
    stop = threading.Event()
    reader = guard(
        lambda: read(
            path,
            fmt=fmt,
            log=log,
            mapping=_mapping(map_),
            ts_field=ts_field,
            id_field=id_field,
            follow=follow,
            stop=stop,
        )
    )
    last_refresh = time.monotonic()
    seen_bad = 0
    try:
        for batch in reader.batches(size):
            totals.add(detector.process(batch))
            if follow and time.monotonic() - last_refresh >= settings.detect.refresh_s:
                detector.refresh()
                last_refresh = time.monotonic()
            totals.tick(path)
    except KeyboardInterrupt:
        stop.set()
    finally:
        reader.close()
        stats = reader.stats
        totals.bad += stats.bad - seen_bad
        totals.ignored += stats.ignored
        totals.bad_lines.extend(stats.bad_lines)


def _stream(
    detector: Detector,
    settings: Settings,
    totals: RunTotals,
    url: str,
    stream: str | None,
    durable: str,
    publish: str | None,
    size: int,
    ack_wait: float,
    idle_exit: float | None,
    fmt: str,
    log: str | None,
) -> None:
    from mburoja.detect.stream import StreamOptions, StreamReport, run_stream

    options = StreamOptions(
        url=url,
        stream=stream,
        durable=durable,
        fmt=fmt,
        log=log,
        batch_size=size,
        batch_s=settings.detect.batch_s,
        ack_wait_s=ack_wait,
        publish=publish,
        index_bucket=settings.detect.announce_bucket,
        refresh_s=settings.detect.refresh_s,
        max_idle_s=idle_exit,
        progress_s=2.0,  # as often as a file's progress line
    )

    def progress(line: str) -> None:
        err_console.print(line, highlight=False)

    report: StreamReport = guard(lambda: run_stream(options, detector, progress))
    totals.records += report.records
    totals.bad += report.bad
    totals.ignored += report.ignored
    totals.bad_lines.extend(report.bad_lines)
    totals.outcome.hits += report.hits
    totals.outcome.new_hits += report.new_hits
    totals.outcome.repeated += report.repeated
    totals.outcome.unconfirmed += report.unconfirmed
    totals.outcome.sightings += report.sightings
    console.print(
        f"stream: {report.messages:,} messages, {report.acked:,} acked, "
        f"{report.redelivered:,} redelivered",
        highlight=False,
    )


def _summary(totals: RunTotals) -> None:
    o = totals.outcome
    table = Table(title="match", show_header=False)
    table.add_column("count", style="bold")
    table.add_column("value", justify="right")
    for label, value in (
        ("records", f"{totals.records:,}"),
        ("bad lines", f"{totals.bad:,}"),
        ("ignored lines", f"{totals.ignored:,}"),
        ("hits", f"{o.hits:,}"),
        ("new (indicator, record) hits", f"{o.new_hits:,}"),
        ("already counted", f"{o.repeated:,}"),
        ("complex candidates turned down", f"{o.unconfirmed:,}"),
        ("sighting versions written", f"{o.sightings:,}"),
        ("rate", f"{totals.rate():,.0f} records/s"),
    ):
        table.add_row(label, value)
    console.print(table)
    for bad in totals.bad_lines[:10]:
        err_console.print(f"bad line {bad.source}:{bad.line}: {bad.reason}", highlight=False)
    if totals.bad > 10:
        err_console.print(f"… and {totals.bad - 10:,} more bad lines", highlight=False)
