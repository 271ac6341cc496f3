"""``mburoja worker``: run enabled feeds on their schedules, apart from ``mburoja serve``.

For production: set ``feeds.schedule_in_serve = false`` so API replicas fetch nothing, and
run one or more workers against the same store; the database leases let each due feed run
exactly once whichever worker gets it (:mod:`mburoja.feeds.scheduler`). ``--once`` runs what
is due and exits (for cron or a systemd timer) with a table of the runs: exit 1 if any failed.

SIGTERM or Ctrl-C stops the worker after the run in progress; every lease it took is given
back as that run ends.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Annotated

import typer
from rich.table import Table

from mburoja.cli.common import AsJson, guard, opened, print_json, shown
from mburoja.cli.render import console
from mburoja.config import Settings
from mburoja.feeds.scheduler import Scheduler, default_holder
from mburoja.logs import configure
from mburoja.store.feeds import FeedRun


def worker(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option("--once", help="Run the feeds due now, print the runs and exit.")
    ] = False,
    holder: Annotated[
        str | None,
        typer.Option(help="This worker's name in feed leases (default worker:HOST:PID)."),
    ] = None,
    allow_private: Annotated[
        bool, typer.Option(help="Allow fetching from private/loopback addresses.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Run enabled feeds on their schedules until stopped (SIGTERM, Ctrl-C), or with --once
    run those due now and exit 1 if any failed. Several workers may share one store."""
    settings: Settings = ctx.obj
    if allow_private:
        settings.fetch.allow_private = True
    name = holder or default_holder("worker")
    configure(json=settings.server.json_logs)
    with opened(ctx) as store:
        scheduler = Scheduler(store, settings, holder=name)
        if once:
            runs = guard(scheduler.run_due)
        else:
            console.print(f"feed worker {name} running; Ctrl-C or SIGTERM stops it", markup=False)
            _until_signalled(scheduler)
            return
    if as_json:
        print_json(runs)
    else:
        _table(runs)
    if any(run.status == "failed" for run in runs):
        raise typer.Exit(1)


def _until_signalled(scheduler: Scheduler) -> None:
    """Run the loop in a thread; SIGTERM and SIGINT ask it to stop, and this waits for it."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        scheduler.stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        loop = threading.Thread(target=scheduler.run, name="feed-scheduler")
        loop.start()
        while loop.is_alive():
            loop.join(0.5)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.print("feed worker stopped", markup=False)


def _table(runs: list[FeedRun]) -> None:
    if not runs:
        console.print("no feed is due", markup=False)
        return
    table = Table("feed", "status", "seconds", "bytes", "received", "new", "updated",
                  "unchanged", "rejected", "error")  # fmt: skip
    for run in runs:
        table.add_row(
            shown(run.feed),
            run.status,
            f"{run.duration_s:.2f}",
            f"{run.bytes:,}",
            *(f"{n:,}" for n in (run.received, run.new, run.new_versions, run.unchanged)),
            f"{run.rejected:,}",
            shown(run.error),
        )
    console.print(table)
