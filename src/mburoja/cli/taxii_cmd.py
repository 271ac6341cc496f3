"""``mburoja taxii``: the TAXII 2.1 client on the command line (discover, collections, pull,
push). The work is in ``mburoja.taxii.client``; this module parses flags and renders.

Exit codes as everywhere: 0 success, 1 an error (the message says how to fix it), 2 the run
finished but something did not land (a pulled object rejected into quarantine, a pushed object
not sent or refused by the server).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from mburoja.cli.common import AsJson, guard, print_json, shown, store_for
from mburoja.cli.render import console, err_console, ingest_progress
from mburoja.config import Settings
from mburoja.errors import ConfigError
from mburoja.ingest.ioc_list import IocOptions
from mburoja.ingest.sources import items_for
from mburoja.stix import timestamps
from mburoja.stix.model import RawObject, Reject
from mburoja.taxii.client import (
    DEFAULT_PAGE_LIMIT,
    PullSummary,
    PushSummary,
    TaxiiClient,
    pull,
    push,
)

T = TypeVar("T")
SHOW = 20

taxii_app = typer.Typer(
    help="TAXII 2.1 client: discover a server, list its collections, pull and push objects.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

User = Annotated[str | None, typer.Option("--user", help="HTTP Basic user name.")]
Password = Annotated[
    str | None,
    typer.Option(
        "--password", envvar="MBUROJA_TAXII_PASSWORD", help="HTTP Basic password.", show_envvar=True
    ),
]
Token = Annotated[
    str | None,
    typer.Option("--token", envvar="MBUROJA_TAXII_TOKEN", help="Bearer token.", show_envvar=True),
]
AllowPrivate = Annotated[
    bool, typer.Option(help="Allow private/loopback server addresses (a local test server).")
]


def _client(
    settings: Settings,
    user: str | None,
    password: str | None,
    token: str | None,
    allow_private: bool,
) -> TaxiiClient:
    """A client with the flags' credentials, held to the fetch settings."""
    if allow_private:
        settings.fetch.allow_private = True
    if user is not None and password is None:
        raise ConfigError("--user needs a password: give --password or set MBUROJA_TAXII_PASSWORD")
    if user is None and password is not None and token is None:
        raise ConfigError("a password was given without --user; add --user NAME")
    if user is not None and token is not None:
        raise ConfigError("give either --user/--password or --token, not both")
    auth = (user, password) if user is not None and password is not None else None
    return TaxiiClient(settings.fetch, settings.limits.max_input_bytes, auth=auth, token=token)


@taxii_app.command()
def discover(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="Discovery URL, e.g. https://host/taxii2/")],
    user: User = None,
    password: Password = None,
    token: Token = None,
    allow_private: AllowPrivate = False,
    as_json: AsJson = False,
) -> None:
    """Show a TAXII server's discovery resource: its API roots."""
    settings: Settings = ctx.obj
    with guard(lambda: _client(settings, user, password, token, allow_private)) as client:
        found = guard(lambda: client.discover(url))
    if as_json:
        print_json(found)
        return
    console.print(discovery_table(found))


def discovery_table(found: dict[str, Any]) -> Table:
    table = Table(title=f"TAXII server: {shown(found.get('title'))}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for field in ("description", "contact", "default"):
        table.add_row(field, shown(found.get(field)))
    roots = found.get("api_roots") or []
    for root in roots if isinstance(roots, list) else [roots]:
        table.add_row("API root", shown(root))
    return table


@taxii_app.command()
def collections(
    ctx: typer.Context,
    api_root: Annotated[str, typer.Argument(help="API root URL, e.g. https://host/api1/")],
    user: User = None,
    password: Password = None,
    token: Token = None,
    allow_private: AllowPrivate = False,
    as_json: AsJson = False,
) -> None:
    """List the collections of an API root, with what the account may do in each."""
    settings: Settings = ctx.obj
    with guard(lambda: _client(settings, user, password, token, allow_private)) as client:
        info = guard(lambda: client.api_root(api_root))
        found = guard(lambda: client.collections(api_root))
    if as_json:
        print_json({"api_root": info, "collections": found})
        return
    console.print(collections_table(info, found))


def collections_table(info: dict[str, Any], found: list[dict[str, Any]]) -> Table:
    title = (
        f"{shown(info.get('title'))}: {len(found)} collections "
        f"(max_content_length {shown(info.get('max_content_length'))})"
    )
    table = Table(title=title)
    for col in ("id", "title", "read", "write", "media types"):
        table.add_column(col, overflow="fold")
    for c in found:
        table.add_row(
            shown(c.get("id")),
            shown(c.get("title")),
            "yes" if c.get("can_read") else "no",
            "yes" if c.get("can_write") else "no",
            shown(c.get("media_types")),
        )
    return table


@taxii_app.command("pull")
def pull_command(
    ctx: typer.Context,
    api_root: Annotated[str, typer.Argument(help="API root URL, e.g. https://host/api1/")],
    collection_id: Annotated[str, typer.Argument(help="The remote collection's id.")],
    into: Annotated[
        str | None,
        typer.Option("--into", help="Local collection alias (default: the remote id)."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="Objects per page asked of the server.")
    ] = DEFAULT_PAGE_LIMIT,
    user: User = None,
    password: Password = None,
    token: Token = None,
    allow_private: AllowPrivate = False,
    actor: Annotated[str, typer.Option(help="Who is pulling (recorded).")] = "cli",
    as_json: AsJson = False,
) -> None:
    """Pull a collection's new objects into the store; the next pull continues from here."""
    settings: Settings = ctx.obj
    store = store_for(settings)
    try:
        with (
            guard(lambda: _client(settings, user, password, token, allow_private)) as client,
            ingest_progress(collection_id, enabled=not as_json and sys.stderr.isatty()) as tick,
        ):
            summary = guard(
                lambda: pull(
                    client,
                    store,
                    settings,
                    api_root,
                    collection_id,
                    into=into,
                    limit=limit,
                    progress=tick,
                    actor=actor,
                )
            )
    finally:
        store.close()
    if as_json:
        print_json(summary)
    else:
        print_pull(summary)
    if summary.rejected:
        raise typer.Exit(2)


def pull_table(summary: PullSummary) -> Table:
    table = Table(title=f"pull {escape(summary.source)}", show_header=False)
    table.add_column("count", style="bold")
    table.add_column("value", justify="right", overflow="fold")
    for label, value in (
        ("pages", summary.pages),
        ("received", summary.received),
        ("new", summary.new),
        ("new versions", summary.new_versions),
        ("unchanged", summary.unchanged),
        ("rejected", summary.rejected),
        ("with warnings", summary.warnings),
    ):
        table.add_row(label, f"{value:,}")
    table.add_row("into collection", escape(summary.collection))
    table.add_row("ingest runs", ", ".join(str(i) for i in summary.ingest_ids) or "-")
    table.add_row("cursor (added after)", summary.cursor or "-")
    return table


def print_pull(summary: PullSummary) -> None:
    console.print(pull_table(summary))
    if summary.recovered:
        console.print(
            "the previous pull was cut between pages; this one went back to just before its "
            "last committed page, so some objects came again (counted as unchanged)"
        )
    if not summary.adds_up:
        err_console.print("[red]counts do not add up: this is a bug, please report it[/red]")
    for reject in summary.rejects[:SHOW]:
        console.print(f"[red]rejected[/red] {escape(str(reject))}")
    if summary.rejected > SHOW:
        console.print(f"… and {summary.rejected - SHOW:,} more")
    if summary.rejected:
        console.print("Rejected items are kept verbatim: see [bold]mburoja quarantine list[/bold].")


@taxii_app.command("push")
def push_command(
    ctx: typer.Context,
    api_root: Annotated[str, typer.Argument(help="API root URL, e.g. https://host/api1/")],
    collection_id: Annotated[str, typer.Argument(help="The remote collection's id.")],
    paths: Annotated[list[str], typer.Argument(help="STIX bundle files or directories.")],
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=0, help="Seconds to wait for each batch's status."),
    ] = 60.0,
    user: User = None,
    password: Password = None,
    token: Token = None,
    allow_private: AllowPrivate = False,
    as_json: AsJson = False,
) -> None:
    """Push the objects of STIX bundle files to a collection, in batches the server accepts."""
    settings: Settings = ctx.obj
    guard(lambda: _check_paths(paths))
    with guard(lambda: _client(settings, user, password, token, allow_private)) as client:
        summary = guard(
            lambda: push(client, api_root, collection_id, _read(paths, settings), timeout_s=timeout)
        )
    if as_json:
        print_json(summary)
    else:
        print_push(summary)
    if not summary.ok:
        raise typer.Exit(2)


def _check_paths(paths: list[str]) -> None:
    """Refuse a URL or a missing path before anything is sent (push sends what we hold)."""
    for path in paths:
        if "://" in path:
            raise ConfigError(f"{path}: push reads local files or directories, not URLs")
        if not Path(path).exists():
            raise ConfigError(f"{path}: no such file or directory")


def _read(paths: list[str], settings: Settings) -> Iterator[RawObject | Reject]:
    """The STIX objects of local files and directories, in the order given."""
    now = timestamps.now()
    for path in paths:
        yield from items_for(path, settings, fmt="stix", ioc=IocOptions(source=path), now=now)


def push_table(summary: PushSummary) -> Table:
    table = Table(title=f"push to {escape(summary.destination)}", show_header=False)
    table.add_column("count", style="bold")
    table.add_column("value", justify="right")
    for label, value in (
        ("objects read", summary.read),
        ("sent", summary.sent),
        ("not sent", len(summary.not_sent)),
        ("batches", summary.batches),
        ("accepted (success_count)", summary.success_count),
        ("refused (failure_count)", summary.failure_count),
        ("pending (pending_count)", summary.pending_count),
        ("max_content_length", summary.max_content_length),
    ):
        table.add_row(label, f"{value:,}")
    return table


def print_push(summary: PushSummary) -> None:
    console.print(push_table(summary))
    for problem in summary.not_sent[:SHOW]:
        where = f" ({problem.origin})" if problem.origin else ""
        console.print(
            f"[red]not sent[/red] {escape(problem.object_id or '(no id)')}{escape(where)}: "
            f"{escape(problem.message)}"
        )
    for problem in summary.failures[:SHOW]:
        console.print(
            f"[red]refused[/red] {escape(problem.object_id or '(no id)')}: "
            f"{escape(problem.message)}"
        )
    hidden = max(len(summary.not_sent) - SHOW, 0) + max(len(summary.failures) - SHOW, 0)
    if hidden:
        console.print(f"… and {hidden:,} more")
    for status_id in summary.unfinished:
        console.print(
            f"[yellow]status {escape(status_id)} was not complete when the wait ended[/yellow]; "
            "raise --timeout, or ask the server for that status later"
        )
