"""``mburoja disinfo source add|list|remove``, ``disinfo fetch`` and ``disinfo import-posts``:
the watch list of outlets and accounts, fetching it, and importing exported posts.

The rules live in ``mburoja.disinfo.sources`` and ``mburoja.disinfo.fetch``; these commands
parse flags, call them and render the answer. ``fetch`` and ``import-posts`` exit 2 when some
input was refused, failed or rejected (rejected lines are in quarantine), like ``ingest``.

Registered under ``mburoja disinfo`` as ``sources_app`` (``source``), ``fetch_cmd``
(``fetch``) and ``import_cmd`` (``import-posts``).
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import msgspec
import typer
from rich.markup import escape
from rich.table import Table

from mburoja.cli.common import AsJson, guard, opened, print_json, shown
from mburoja.cli.render import console, err_console, ingest_progress
from mburoja.config import Settings
from mburoja.disinfo.fetch import (
    DEFAULT_INTERVAL_S,
    DEFAULT_MAX_ENTRIES,
    FetchReport,
    HostPacer,
    SourceOutcome,
    fetch_sources,
)
from mburoja.disinfo.sources import PostImport, add_source, import_posts, watch_list

sources_app = typer.Typer(
    help="The watch list: outlets (RSS/Atom feeds, HTML pages) and social accounts.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


class Kind(StrEnum):
    feed = "feed"
    page = "page"
    account = "account"


@sources_app.command("add")
def source_add(
    ctx: typer.Context,
    kind: Annotated[Kind, typer.Argument(help="feed (RSS/Atom), page (HTML) or account.")],
    location: Annotated[
        str, typer.Argument(help="The feed's or page's http(s) URL, or the account's id.")
    ],
    name: Annotated[
        str | None, typer.Option(help="A short unique name (default: host, or platform:id).")
    ] = None,
    platform: Annotated[
        str, typer.Option(help="Accounts: the platform (telegram, x, facebook, vk…).")
    ] = "",
    lang: Annotated[
        str | None, typer.Option(help="The language expected (ISO 639-1, sh: Latin sr/hr/bs).")
    ] = None,
    tlp: Annotated[str, typer.Option(help="TLP of what is fetched from it.")] = "clear",
    as_json: AsJson = False,
) -> None:
    """Add an outlet or an account to the watch list."""
    with opened(ctx) as store:
        source = guard(
            lambda: add_source(
                store, kind.value, location, name=name, platform=platform, lang=lang, tlp=tlp
            )
        )
    if as_json:
        print_json(source)
        return
    where = f"{source.platform}:{source.location}" if source.platform else source.location
    console.print(f"watching {source.kind} {escape(repr(source.name))} at {escape(where)}")


@sources_app.command("list")
def source_list(
    ctx: typer.Context,
    kind: Annotated[Kind | None, typer.Option(help="Only this kind.")] = None,
    as_json: AsJson = False,
) -> None:
    """The watch list, with when each source was last fetched and what it answered."""
    with opened(ctx) as store:
        found = guard(lambda: watch_list(store, kind.value if kind else None))
        last = store.fetch_states([s.location for s in found if s.kind != "account"])
    if as_json:
        print_json(found)
        return
    table = Table(title=f"watch list ({len(found)})")
    for column in ("name", "kind", "where", "lang", "TLP", "enabled", "checked", "last answer"):
        table.add_column(column, overflow="fold")
    for source in found:
        state = last.get(source.location)
        answer = None
        if state is not None:
            answer = state.error or (f"HTTP {state.status}" if state.status else None)
        table.add_row(
            shown(source.name),
            source.kind,
            shown(f"{source.platform}:{source.location}" if source.platform else source.location),
            shown(source.lang),
            source.tlp,
            "yes" if source.enabled else "no",
            shown(state.checked if state else None),
            shown(answer),
        )
    console.print(table)


@sources_app.command("remove")
def source_remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The source's name.")],
) -> None:
    """Take a source off the watch list (what was fetched from it stays in the store)."""
    with opened(ctx) as store:
        guard(lambda: store.remove_disinfo_source(name))
    console.print(f"no longer watching {escape(repr(name))}")


def _outcome_line(outcome: SourceOutcome) -> str:
    rate = outcome.urls / outcome.elapsed_s if outcome.elapsed_s > 0 else 0.0
    return (
        f"{outcome.kind} {outcome.name}: {outcome.urls:,} URLs ({rate:,.1f}/s), "
        f"{outcome.articles:,} articles, {outcome.not_modified:,} not modified, "
        f"{outcome.known:,} known, {outcome.empty:,} without text, {outcome.failed:,} failed, "
        f"{outcome.refused:,} refused in {outcome.elapsed_s:.1f} s"
    )


def _fetch_summary(report: FetchReport) -> Table:
    table = Table(title="disinfo fetch", show_header=False)
    table.add_column("count", style="bold")
    table.add_column("value", justify="right")
    for label, value in (
        ("sources", len(report.sources)),
        ("URLs asked", report.urls),
        ("articles extracted", report.total("articles")),
        ("not modified", report.total("not_modified")),
        ("known, skipped", report.total("known")),
        ("without main text", report.total("empty")),
        ("failed", report.total("failed")),
        ("refused", report.total("refused")),
        ("objects received", report.received),
        ("new", report.new),
        ("new versions", report.new_versions),
        ("unchanged", report.unchanged),
        ("rejected", report.rejected),
    ):
        table.add_row(label, f"{value:,}")
    table.add_row("time", f"{report.elapsed_s:.1f} s")
    return table


def fetch_cmd(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Sources to fetch by name (default: every enabled feed and page)."),
    ] = None,
    interval: Annotated[
        float, typer.Option(min=0.0, help="Seconds between two requests to one host.")
    ] = DEFAULT_INTERVAL_S,
    max_entries: Annotated[
        int, typer.Option(min=1, help="Entries read from each feed, at most.")
    ] = DEFAULT_MAX_ENTRIES,
    recheck: Annotated[
        bool, typer.Option(help="Fetch again (conditionally) articles fetched before.")
    ] = False,
    allow_private: Annotated[
        bool, typer.Option(help="Allow fetching from private/loopback addresses.")
    ] = False,
    actor: Annotated[str, typer.Option(help="Who is fetching (recorded).")] = "cli",
    as_json: AsJson = False,
) -> None:
    """Fetch the watched feeds and pages; store new and changed articles as STIX."""
    settings: Settings = ctx.obj
    if allow_private:
        settings = msgspec.structs.replace(
            settings, fetch=msgspec.structs.replace(settings.fetch, allow_private=True)
        )

    def progress(outcome: SourceOutcome) -> None:
        if not as_json:
            err_console.print(escape(_outcome_line(outcome)), highlight=False)
            for error in outcome.errors[:5]:
                err_console.print(f"  [red]{escape(error)}[/red]", highlight=False)

    with opened(ctx) as store:
        report = guard(
            lambda: fetch_sources(
                store,
                settings,
                tuple(names or ()),
                pacer=HostPacer(interval),
                actor=actor,
                max_entries=max_entries,
                recheck=recheck,
                progress=progress,
            )
        )
    if as_json:
        print_json(report)
    else:
        console.print(_fetch_summary(report))
        for reject in report.rejects[:20]:
            console.print(f"[red]rejected[/red] {escape(str(reject))}")
    if report.rejected or report.total("failed") or report.total("refused"):
        raise typer.Exit(2)


def _import_summary(result: PostImport) -> Table:
    table = Table(title=f"import {escape(result.file)}", show_header=False)
    table.add_column("count", style="bold")
    table.add_column("value", justify="right")
    ingest = result.ingest
    for label, value in (
        ("lines", result.lines),
        ("posts", result.posts),
        ("lines rejected", result.rejected),
        ("objects new", ingest.new if ingest else 0),
        ("objects new versions", ingest.new_versions if ingest else 0),
        ("objects unchanged", ingest.unchanged if ingest else 0),
        ("objects rejected", (ingest.rejected - result.rejected) if ingest else 0),
    ):
        table.add_row(label, f"{value:,}")
    table.add_row("time", f"{result.elapsed_s:.2f} s ({result.rate:,.0f} lines/s)")
    return table


def import_cmd(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A JSONL export of posts, one post a line.")],
    platform: Annotated[
        str | None, typer.Option(help="The platform of lines that name none (telegram, x…).")
    ] = None,
    tlp: Annotated[str, typer.Option(help="TLP of the imported posts.")] = "clear",
    actor: Annotated[str, typer.Option(help="Who is importing (recorded).")] = "cli",
    as_json: AsJson = False,
) -> None:
    """Import exported social posts (JSONL); bad lines are rejected with file, line, field
    and reason, and quarantined, while the good ones land."""
    settings: Settings = ctx.obj
    with (
        opened(ctx) as store,
        ingest_progress(str(path), enabled=not as_json and sys.stderr.isatty()) as tick,
    ):
        result = guard(
            lambda: import_posts(
                path,
                store,
                settings,
                platform=platform,
                tlp=tlp,
                actor=actor,
                progress=tick,
            )
        )
    if as_json:
        print_json(result)
    else:
        console.print(_import_summary(result))
        for reject in result.rejects[:20]:
            console.print(f"[red]rejected[/red] {escape(str(reject))}")
        if result.rejected > 20:
            console.print(f"… and {result.rejected - 20:,} more (mburoja quarantine list)")
    if result.rejected or (result.ingest is not None and result.ingest.rejected):
        raise typer.Exit(2)
