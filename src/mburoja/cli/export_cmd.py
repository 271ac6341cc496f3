"""``mburoja export``: the active indicators an organisation may see, in sensor formats.

Every command applies the policy as one organisation (``--for``; default the home
organisation), writes a file (``--out``; ``-`` or nothing for stdout, except Suricata,
which writes a directory) and prints its counts to stderr: what was included, and every
reason an indicator was left out or a key dropped, with its count. A file is written beside
its target and moved into place, so a sensor never loads half an export.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.markup import escape

from mburoja.cli.common import guard, opened
from mburoja.cli.render import err_console
from mburoja.config import Settings
from mburoja.detect.compile import Compiled
from mburoja.detect.exports import (
    ExportOptions,
    ExportReport,
    Gathered,
    gather,
    raw_views,
    write_csv,
    write_nft,
    write_rpz,
    write_stix,
    write_suricata,
    write_zeek,
)
from mburoja.detect.exports import rpz as rpz_format
from mburoja.detect.exports import suricata as suricata_format
from mburoja.detect.exports.zeek import SUBDOMAIN_MODES
from mburoja.errors import ConfigError
from mburoja.lifecycle import decay, warninglists
from mburoja.mispfeed import build_feed, write_feed
from mburoja.policy import Caller, Relation
from mburoja.stix import timestamps
from mburoja.store.sql import SqlStore

export_app = typer.Typer(
    help="Export the active indicators an organisation may see to sensors: Zeek Intel, "
    "Suricata datasets and rules, DNS RPZ, nftables sets, CSV or a STIX bundle.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


class SubdomainMode(StrEnum):
    exact = "exact"
    wildcard_note = "wildcard-note"


class RpzAction(StrEnum):
    nxdomain = "nxdomain"
    nodata = "nodata"
    drop = "drop"
    passthru = "passthru"
    tcp_only = "tcp-only"
    redirect = "redirect"


Out = Annotated[
    str, typer.Option("--out", "-o", help="File to write; - (the default) writes to stdout.")
]
For = Annotated[
    str | None,
    typer.Option(
        "--for",
        help="Apply the policy as this organisation (name or id); default: the home one.",
    ),
]
Floor = Annotated[
    int,
    typer.Option(
        "--confidence-floor", min=0, max=100, help="Leave out indicators below this confidence."
    ),
]
At = Annotated[
    str | None,
    typer.Option("--at", help="Export as of this STIX timestamp (default: now)."),
]


def org_caller(store: SqlStore, org: str | None) -> tuple[Caller, str]:
    """The caller that stands for organisation ``org`` (None: the home organisation), and
    the organisation's name."""
    found = store.get_org(org) if org else store.home_org()
    if found is None:
        raise ConfigError("there is no home organisation: run `mburoja init --org NAME`")
    relation = Relation.SELF if found.relation == "home" else Relation(found.relation)
    caller = Caller(
        org_id=found.id,
        relation=relation,
        identities=frozenset({found.identity_id}),
        user_name=f"export:{found.name}",
        role="reader",
    )
    return caller, found.name


@contextmanager
def _output(path: str) -> Iterator[TextIO]:
    """stdout for ``-``, else a file written beside ``path`` and moved into place."""
    if path == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(path)
    if not target.parent.is_dir() or target.is_dir():
        raise ConfigError(f"--out {path}: give a file in an existing directory")
    partial = target.with_name(f".{target.name}.partial")
    try:
        with partial.open("w", encoding="utf-8", newline="\n") as stream:
            yield stream
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _gather(
    ctx: typer.Context, org: str | None, floor: int, at: str | None, *, raw: bool = False
) -> tuple[Gathered, dict[str, bytes]]:
    """The indicators to export and, with ``raw``, their stored bytes as the caller sees
    them."""
    if at is not None and not timestamps.is_timestamp(at):
        raise ConfigError(f"--at {at!r} is not a STIX timestamp (e.g. 2026-01-01T00:00:00Z)")
    settings: Settings = ctx.obj
    lists = warninglists.from_settings(settings.warninglists)
    with opened(ctx) as store:
        caller, name = org_caller(store, org)
        found = gather(
            store,
            caller,
            name,
            at=at,
            confidence_floor=floor,
            warninglists=lists,
            decay=decay.from_settings(settings.decay),
        )
        ids = [c.id for c in found.indicators] + [n.id for n in found.not_compiled]
        views = raw_views(store, caller, ids) if raw else {}
    return found, views


Writer = Callable[[list[Compiled], TextIO, ExportOptions], ExportReport]


def _export(
    ctx: typer.Context, out: str, org: str | None, floor: int, at: str | None, write: Writer
) -> None:
    found, _raw = guard(lambda: _gather(ctx, org, floor, at))

    def run() -> ExportReport:
        with _output(out) as stream:
            return write(found.indicators, stream, found.options)

    _done(guard(run), out)


def _done(report: ExportReport, out: str) -> None:
    err_console.print(escape(report.summary()), highlight=False, soft_wrap=True)
    for line in report.details():
        err_console.print(escape(line), highlight=False, soft_wrap=True)
    if out != "-":
        err_console.print(f"written to {escape(out)}", highlight=False)


@export_app.command("zeek")
def export_zeek(
    ctx: typer.Context,
    out: Out = "-",
    org: For = None,
    floor: Floor = 0,
    at: At = None,
    subdomains: Annotated[
        SubdomainMode,
        typer.Option(
            "--zeek-subdomains",
            help="Zeek Intel matches domains exactly, Mburoja matches subdomains too. "
            + " ".join(f"{mode}: {text}." for mode, text in SUBDOMAIN_MODES.items()),
        ),
    ] = SubdomainMode.exact,
    url_base: Annotated[
        str | None,
        typer.Option("--url-base", help="meta.url: this base followed by the indicator id."),
    ] = None,
) -> None:
    """A Zeek Intel framework file (load it with Intel::read_files)."""
    _export(
        ctx,
        out,
        org,
        floor,
        at,
        lambda found, stream, options: write_zeek(
            found, stream, options, subdomains=subdomains.value, url_base=url_base
        ),
    )


@export_app.command("suricata")
def export_suricata(
    ctx: typer.Context,
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Directory to write (a rules directory)."),
    ],
    org: For = None,
    floor: Floor = 0,
    at: At = None,
    sid_base: Annotated[int, typer.Option(min=1, help="First signature id.")] = (
        suricata_format.SID_BASE
    ),
    suffix_rules: Annotated[
        int,
        typer.Option(min=0, help="At most this many domains get a DNS rule for subdomains."),
    ] = 10_000,
    hashsize_max: Annotated[
        int,
        typer.Option(
            min=1,
            help="Largest dataset hashsize to ask for (Suricata's datasets.limits."
            "single-hashsize: 65536 in 8, 262144 in 7.0).",
        ),
    ] = suricata_format.HASHSIZE_MAX,
    lowercase: Annotated[
        bool,
        typer.Option("--lowercase", help="Lower-case DNS names and SNI first (Suricata 8+)."),
    ] = False,
) -> None:
    """Suricata datasets, file-hash lists, IP reputation and the rules using them."""
    found, _raw = guard(lambda: _gather(ctx, org, floor, at))
    report = guard(
        lambda: write_suricata(
            found.indicators,
            out,
            found.options,
            sid_base=sid_base,
            suffix_rules=suffix_rules,
            hashsize_max=hashsize_max,
            lowercase=lowercase,
        )
    )
    _done(report, str(out))


@export_app.command("rpz")
def export_rpz(
    ctx: typer.Context,
    out: Out = "-",
    org: For = None,
    floor: Floor = 0,
    at: At = None,
    action: Annotated[
        RpzAction,
        typer.Option(
            "--rpz-action",
            help="nxdomain (CNAME .), nodata (CNAME *.), drop, passthru, tcp-only, or "
            "redirect to --rpz-redirect.",
        ),
    ] = RpzAction.nxdomain,
    origin: Annotated[str, typer.Option("--rpz-origin", help="The zone's name.")] = (
        rpz_format.ORIGIN
    ),
    redirect: Annotated[
        str | None,
        typer.Option("--rpz-redirect", help="Walled-garden name for --rpz-action redirect."),
    ] = None,
    ttl: Annotated[int, typer.Option("--rpz-ttl", min=0, help="The zone's TTL.")] = 300,
) -> None:
    """A DNS response policy zone (RPZ) of domains and response-IP triggers."""
    _export(
        ctx,
        out,
        org,
        floor,
        at,
        lambda found, stream, options: write_rpz(
            found,
            stream,
            options,
            origin=origin,
            action=action.value,
            redirect=redirect,
            ttl=ttl,
        ),
    )


@export_app.command("nft")
def export_nft(
    ctx: typer.Context,
    out: Out = "-",
    org: For = None,
    floor: Floor = 0,
    at: At = None,
    table: Annotated[str, typer.Option("--table", help="The nftables table (inet).")] = "mburoja",
) -> None:
    """An nftables script: interval sets of addresses and networks, and chains dropping
    traffic to and from them (apply with nft -f)."""
    _export(
        ctx,
        out,
        org,
        floor,
        at,
        lambda found, stream, options: write_nft(found, stream, options, table=table),
    )


@export_app.command("csv")
def export_csv(
    ctx: typer.Context, out: Out = "-", org: For = None, floor: Floor = 0, at: At = None
) -> None:
    """CSV, one row per value: indicator_id, kind, value, name, tlp, valid_until, pattern."""
    _export(ctx, out, org, floor, at, write_csv)


@export_app.command("stix")
def export_stix(
    ctx: typer.Context, out: Out = "-", org: For = None, floor: Floor = 0, at: At = None
) -> None:
    """A STIX 2.1 bundle of every active indicator as stored, compiled to keys or not."""
    found, raw = guard(lambda: _gather(ctx, org, floor, at, raw=True))

    def run() -> ExportReport:
        with _output(out) as stream:
            return write_stix(
                found.indicators,
                stream,
                found.options,
                raw=raw,
                not_compiled=found.not_compiled,
            )

    _done(guard(run), out)


@export_app.command("misp-feed")
def export_misp_feed(
    ctx: typer.Context,
    directory: Annotated[
        Path, typer.Argument(help="Directory to write the feed into (created if missing).")
    ],
    org: For = None,
) -> None:
    """A MISP feed (manifest.json, hashes.csv, one event per grouping, report or campaign)
    for a MISP instance to subscribe to; `mburoja serve` publishes it under /misp-feed/."""

    def run() -> tuple[int, int, dict[str, int]]:
        directory.mkdir(parents=True, exist_ok=True)
        with opened(ctx) as store:
            caller, _name = org_caller(store, org)
            feed = build_feed(store, caller)
        write_feed(feed, directory)
        return len(feed.events), len(feed.hashes), feed.skipped

    events, attributes, skipped = guard(run)
    err_console.print(f"{events} events, {attributes} attributes", highlight=False)
    for kind, count in sorted(skipped.items()):
        err_console.print(
            f"left out {count} {escape(kind)} values: no MISP attribute type", highlight=False
        )
    err_console.print(f"written to {escape(str(directory))}", highlight=False)
