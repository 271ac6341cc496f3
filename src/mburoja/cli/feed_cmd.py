"""``mburoja feed``: the feeds this instance collects from, and running one now.

Which feeds exist and the rules of adding, enabling and removing them are
:mod:`mburoja.feeds.registry`'s; a run is :func:`mburoja.feeds.runner.run_feed`. These
commands parse flags, call them and print the answer.

``run`` exits like ``mburoja ingest``: 0 when the run went through (or the feed had not
changed, or another worker holds it), 2 when it rejected items, 1 when it failed.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer
from rich.table import Table

from mburoja import admin
from mburoja.cli.common import AsJson, guard, opened, print_json, shown
from mburoja.cli.render import console, err_console
from mburoja.config import Settings
from mburoja.errors import ConfigError
from mburoja.feeds import catalogue, registry
from mburoja.feeds.catalogue import FeedSpec
from mburoja.feeds.runner import run_feed
from mburoja.store.feeds import FeedRun, FeedState

feed_app = typer.Typer(
    help="Feeds: the catalogue and your own feeds, their health and runs.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

Name = Annotated[str, typer.Argument(help="The feed's name (`mburoja feed list`).")]


@feed_app.command("list")
def list_feeds(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Every feed: the shipped catalogue (off until enabled) and your own."""
    settings: Settings = ctx.obj
    with opened(ctx) as store:
        rows = guard(lambda: admin.feed_rows(store, settings))
    if as_json:
        print_json([msgspec.structs.asdict(row) for row in rows])
        return
    table = Table("name", "source", "format", "schedule", "enabled", "healthy", "last run",
                  "next due")  # fmt: skip
    for row in rows:
        last = f"{row.last_status} {row.last_run}" if row.last_run else "-"
        healthy = "yes" if row.healthy else f"NO ({row.failures} failures)"
        due = (row.next_due or "now") if row.enabled else "-"
        table.add_row(
            shown(row.name),
            row.source,
            shown(row.format),
            shown(row.schedule),
            "yes" if row.enabled else "no",
            healthy,
            shown(last),
            shown(due),
        )
    console.print(table)


@feed_app.command("add")
def add(
    ctx: typer.Context,
    file: Annotated[
        Path | None, typer.Argument(help="A TOML file of [[feed]] entries (or use the flags).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="The feed's name (a-z, 0-9, . _ -).")] = None,
    url: Annotated[str | None, typer.Option(help="Where the feed is (http or https).")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="The feed's format.")] = None,
    provider: Annotated[str, typer.Option(help="Who publishes it.")] = "local",
    tlp: Annotated[str, typer.Option(help="TLP of what it yields.")] = "clear",
    confidence: Annotated[int, typer.Option(help="Confidence 0..100 of its indicators.")] = 50,
    schedule: Annotated[str, typer.Option(help="How often to run it: 15m, 1h, 1d.")] = "1h",
    enable: Annotated[bool, typer.Option(help="Switch it on at once.")] = False,
) -> None:
    """Add your own feeds, from a TOML file or from the flags."""
    settings: Settings = ctx.obj
    specs = guard(lambda: _specs(file, name, url, fmt, provider, tlp, confidence, schedule))
    if enable:
        specs = tuple(FeedSpec(**{**_fields(s), "enabled": True}) for s in specs)
    with opened(ctx) as store:
        guard(lambda: registry.add(store, specs))
        added = {f.name: f for f in guard(lambda: registry.all_feeds(store, settings))}
    for spec in specs:
        on = added[spec.name].enabled
        state = "enabled" if on else "disabled (`mburoja feed enable` turns it on)"
        console.print(f"feed {spec.name!r} added, {state}", markup=False, highlight=False)


def _fields(spec: FeedSpec) -> dict[str, Any]:
    return {f: getattr(spec, f) for f in spec.__struct_fields__}


def _specs(
    file: Path | None,
    name: str | None,
    url: str | None,
    fmt: str | None,
    provider: str,
    tlp: str,
    confidence: int,
    schedule: str,
) -> tuple[FeedSpec, ...]:
    if file is not None:
        if name or url or fmt:
            raise ConfigError("give a TOML file or --name/--url/--format, not both")
        return catalogue.load(file)
    missing = [flag for flag, v in (("--name", name), ("--url", url), ("--format", fmt)) if not v]
    if missing:
        raise ConfigError(
            f"missing {', '.join(missing)}: give a TOML file of [[feed]] entries or the flags"
        )
    text = "\n".join(
        f"{key} = {_toml_string(value)}"
        for key, value in (
            ("name", name),
            ("url", url),
            ("format", fmt),
            ("provider", provider),
            ("tlp", tlp),
            ("schedule", schedule),
        )
    )
    return catalogue.parse(f"[[feed]]\n{text}\nconfidence = {confidence}\n", "command line")


def _toml_string(value: str | None) -> str:
    """``value`` as a TOML basic string (JSON's string escapes are TOML's)."""
    return json.dumps(value or "")


@feed_app.command("show")
def show(ctx: typer.Context, name: Name, as_json: AsJson = False) -> None:
    """A feed's spec, state and latest runs."""
    settings: Settings = ctx.obj
    with opened(ctx) as store:
        feed = guard(lambda: registry.find(store, settings, name))
        state = store.feed_state(name)
        runs = store.feed_runs(name, limit=10)
    if as_json:
        print_json(
            {
                "spec": feed.spec,
                "source": feed.source,
                "enabled": feed.enabled,
                "state": _state(state),
                "runs": runs,
            }
        )
        return
    spec = feed.spec
    lines = [
        f"feed {spec.name} ({feed.source}, {'enabled' if feed.enabled else 'disabled'})",
        f"  provider: {spec.provider}",
        f"  url: {spec.url}",
        f"  format: {spec.format}  schedule: {spec.schedule}",
        f"  tlp: {spec.tlp}  confidence: {spec.confidence}",
        f"  healthy: {'yes' if state.healthy else 'NO'} ({state.failures} failures in a row)",
        f"  etag: {state.etag or '-'}  last-modified: {state.last_modified or '-'}",
    ]
    if spec.licence:
        lines.insert(3, f"  licence: {spec.licence}")
    for line in lines:
        console.print(line, markup=False, highlight=False)
    table = Table("started", "status", "seconds", "bytes", "received", "new", "updated",
                  "unchanged", "rejected", "withdrawn", "events", "error",
                  title="latest runs")  # fmt: skip
    for run in runs:
        table.add_row(
            shown(run.started),
            run.status,
            f"{run.duration_s:.2f}",
            f"{run.bytes:,}",
            *(f"{n:,}" for n in (run.received, run.new, run.new_versions, run.unchanged)),
            f"{run.rejected:,}",
            f"{run.withdrawn:,}",
            _events(run),
            shown(run.error),
        )
    console.print(table)


def _state(state: FeedState) -> dict[str, Any]:
    return {f: getattr(state, f) for f in state.__struct_fields__}


@feed_app.command("enable")
def enable(ctx: typer.Context, name: Name) -> None:
    """Switch a feed on."""
    _switch(ctx, name, True)


@feed_app.command("disable")
def disable(ctx: typer.Context, name: Name) -> None:
    """Switch a feed off."""
    _switch(ctx, name, False)


def _switch(ctx: typer.Context, name: str, on: bool) -> None:
    settings: Settings = ctx.obj
    with opened(ctx) as store:
        guard(lambda: registry.set_enabled(store, settings, name, on))
    console.print(f"feed {name!r} {'enabled' if on else 'disabled'}", markup=False)


@feed_app.command("remove")
def remove(ctx: typer.Context, name: Name) -> None:
    """Remove one of your own feeds with its state and runs (catalogue feeds: disable)."""
    settings: Settings = ctx.obj
    with opened(ctx) as store:
        guard(lambda: registry.remove(store, settings, name))
    console.print(f"feed {name!r} removed", markup=False)


@feed_app.command("run")
def run(
    ctx: typer.Context,
    name: Name,
    allow_private: Annotated[
        bool, typer.Option(help="Allow fetching from private/loopback addresses.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Run a feed now, whether enabled or not; exit 2 on rejects, 1 on failure."""
    settings: Settings = ctx.obj
    if allow_private:
        settings.fetch.allow_private = True
    holder = f"cli:{socket.gethostname()}:{os.getpid()}"
    with opened(ctx) as store:
        result = guard(lambda: run_feed(store, settings, name, holder=holder))
    if as_json:
        print_json(result)
    else:
        _print_run(result)
    if result.status == "failed":
        raise typer.Exit(1)
    if result.rejected:
        raise typer.Exit(2)


def _events(run: FeedRun) -> str:
    """A MISP feed run's events: fetched, and skipped as unchanged ("-" for other feeds)."""
    if not (run.events_fetched or run.events_skipped):
        return "-"
    return f"{run.events_fetched:,} new or changed, {run.events_skipped:,} unchanged"


def _print_run(run: FeedRun) -> None:
    if run.status == "skipped":
        console.print(f"feed {run.feed!r} skipped: {run.error}", markup=False)
        return
    console.print(
        f"feed {run.feed!r}: {run.status} in {run.duration_s:.2f}s, {run.bytes:,} bytes; "
        f"received {run.received:,}, new {run.new:,}, new versions {run.new_versions:,}, "
        f"unchanged {run.unchanged:,}, rejected {run.rejected:,} ({run.rate:,.0f} items/s)"
        + (f"; withdrawn {run.withdrawn:,}" if run.withdrawn else "")
        + (f"; events {_events(run)}" if run.events_fetched or run.events_skipped else ""),
        markup=False,
        highlight=False,
    )
    if run.error:
        err_console.print(f"error: {run.error}", markup=False, highlight=False)
    if run.rejected:
        console.print(
            "Rejected items are kept verbatim: see `mburoja quarantine list`.", markup=False
        )
