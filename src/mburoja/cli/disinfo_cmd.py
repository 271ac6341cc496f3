"""``mburoja disinfo ...``: counter-disinformation. The watch list, fetching and post import
(``cli/disinfo_sources.py``), the narrative library (``cli/disinfo_narratives.py``), DISARM,
and the analyses: ``clusters`` (copy-paste networks), ``networks`` (coordinated sharing) and
``analyse`` (every detector, findings stored as STIX)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from mburoja.cli.common import AsJson, guard, opened, print_json
from mburoja.cli.disinfo_narratives import narratives_app
from mburoja.cli.disinfo_sources import fetch_cmd, import_cmd, sources_app
from mburoja.cli.render import console, err_console
from mburoja.config import Settings
from mburoja.disinfo import coordination, copies
from mburoja.disinfo.analyse import Analysis, analyse, load_documents, parse_since
from mburoja.disinfo.disarm import load_disarm
from mburoja.disinfo.model import POST

disinfo_app = typer.Typer(
    help="Counter-disinformation: sources, narratives, DISARM and the analyses.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
disinfo_app.add_typer(sources_app, name="source")
disinfo_app.command("fetch")(fetch_cmd)
disinfo_app.command("import-posts")(import_cmd)
disinfo_app.add_typer(narratives_app, name="narratives")

disarm_app = typer.Typer(help="The DISARM framework (STIX bundle).", no_args_is_help=True)
disinfo_app.add_typer(disarm_app, name="disarm")

Since = Annotated[
    str | None,
    typer.Option(help="Only documents published at or after this time (ISO 8601)."),
]


def _say(line: str) -> None:
    err_console.print(escape(line), highlight=False)


@disarm_app.command("load")
def disarm_load(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="DISARM's STIX bundle (DISARM.json).")],
    as_json: AsJson = False,
) -> None:
    """Ingest DISARM's STIX bundle (kept apart from ATT&CK: see docs/disinfo/disarm.md)."""
    settings: Settings = ctx.obj
    with opened(ctx) as store:
        report = guard(lambda: load_disarm(store, settings, path))
    if as_json:
        print_json(report)
        return
    console.print(
        f"DISARM: {report.received:,} objects, {report.new:,} new, "
        f"{report.unchanged:,} unchanged, {report.rejected:,} rejected",
        highlight=False,
    )
    if report.rejected:
        raise typer.Exit(2)


@disinfo_app.command("clusters")
def clusters_cmd(
    ctx: typer.Context,
    since: Since = None,
    min_outlets: Annotated[
        int | None, typer.Option(min=1, help="Show clusters at this many outlets or more.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Copy-paste networks and cross-language copies among the stored articles and posts."""
    settings: Settings = ctx.obj
    least = settings.disinfo.min_outlets if min_outlets is None else min_outlets
    with opened(ctx) as store:
        docs = guard(lambda: load_documents(store, settings, since=parse_since(since)))
    report = copies.analyse(docs)
    shown = [c for c in report.clusters if len(c.outlets) >= least]
    if as_json:
        print_json({"documents": report.documents, "clusters": shown, **_cross(report)})
        return
    table = Table(title=f"{len(shown)} copy-paste networks among {len(docs):,} documents")
    for column in ("patient zero", "first outlet", "level", "copies", "outlets"):
        table.add_column(column)
    for cluster in shown:
        table.add_row(
            cluster.patient_zero,
            cluster.first_source,
            cluster.level,
            str(len(cluster.members)),
            ", ".join(cluster.outlets[:6]) + (" …" if len(cluster.outlets) > 6 else ""),
        )
    console.print(table)
    for copy in report.cross_language:
        console.print(
            f"cross-language: {copy.source} ({copy.source_lang}) -> {copy.copy} "
            f"({copy.copy_lang}), {copy.method} {copy.score:.2f}",
            highlight=False,
        )


def _cross(report: copies.CopyReport) -> dict[str, object]:
    return {"cross_language": report.cross_language}


@disinfo_app.command("networks")
def networks_cmd(
    ctx: typer.Context,
    since: Since = None,
    interval: Annotated[
        float | None,
        typer.Option(min=0.1, help="Coordination interval in seconds (default: estimated)."),
    ] = None,
    min_weight: Annotated[
        int | None, typer.Option(min=1, help="The least weight an edge needs.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Coordinated link sharing among the stored posts (CooRnet)."""
    settings: Settings = ctx.obj
    conf = settings.disinfo
    with opened(ctx) as store:
        docs = guard(lambda: load_documents(store, settings, since=parse_since(since)))
    posts = [d for d in docs if d.kind == POST]
    result = coordination.detect_coordination(
        posts,
        interval=interval or conf.coordination_interval_s or None,
        min_weight=conf.coordination_min_weight if min_weight is None else min_weight,
        text=conf.coordination_text,
    )
    if as_json:
        print_json(result)
        return
    how = "set by hand" if result.estimate is None else "estimated from the data"
    interval_text = "none" if result.interval is None else f"{result.interval:.1f} s ({how})"
    console.print(
        f"{result.posts:,} posts, {result.shares:,} shares; coordination interval "
        f"{interval_text}; {len(result.edges):,} edges kept (weight >= {result.threshold})",
        highlight=False,
    )
    for network in result.components:
        names = ", ".join(m.name or m.account for m in network.members[:8])
        console.print(
            f"[bold]{network.id}[/bold]: {len(network.members)} accounts ({escape(names)}), "
            f"{len(network.urls)} links, {len(network.texts)} texts",
            highlight=False,
        )
        for line in network.evidence_lines()[:5]:
            console.print(f"  {escape(line)}", highlight=False)


@disinfo_app.command("analyse")
def analyse_cmd(
    ctx: typer.Context,
    since: Since = None,
    publish: Annotated[
        bool, typer.Option(help="Store the findings as STIX (campaign, report, DISARM uses).")
    ] = True,
    as_json: AsJson = False,
) -> None:
    """Every detector over the stored articles and posts; findings stored as STIX."""
    settings: Settings = ctx.obj
    with opened(ctx) as store:
        result = guard(
            lambda: analyse(
                store, settings, since=parse_since(since), publish_findings=publish, progress=_say
            )
        )
    if as_json:
        print_json(result)
        return
    console.print(_summary(result))
    for finding in result.findings[:50]:
        console.print(f"[bold]{finding.kind}[/bold] {escape(finding.title)}", highlight=False)
    if len(result.findings) > 50:
        console.print(f"… and {len(result.findings) - 50} more findings")


def _summary(result: Analysis) -> Table:
    table = Table(title="disinfo analyse", show_header=False)
    table.add_row("documents", f"{result.documents:,} ({result.articles:,} articles, "
                  f"{result.posts:,} posts)")  # fmt: skip
    table.add_row("languages", ", ".join(f"{k} {v:,}" for k, v in result.languages.items()))
    if result.copies is not None:
        table.add_row("copy-paste clusters", f"{len(result.copies.clusters):,}")
        table.add_row("cross-language copies", f"{len(result.copies.cross_language):,}")
    if result.coordination is not None:
        table.add_row("coordinated networks", f"{len(result.coordination.components):,}")
    table.add_row("narrative matches", f"{len(result.narratives):,}")
    table.add_row("new sites", ", ".join(result.new_sites) or "none")
    table.add_row("findings", f"{len(result.findings):,}")
    if result.stored:
        table.add_row("stored", ", ".join(f"{k} {v:,}" for k, v in result.stored.items()))
    table.add_row("seconds", ", ".join(f"{k} {v}" for k, v in result.seconds.items()))
    return table
