"""The ``mburoja`` command line. Each command parses flags, calls the layer that does the
work, and renders the result; none holds a business rule.

Exit codes: 0 success; 1 an error (the message says how to fix it); 2 an ingest finished
but rejected some items (they are in quarantine).
"""

from __future__ import annotations

import sys
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from mburoja.admin import quarantine_status
from mburoja.cli.accounts_cmd import collection_app, org_app, token_app, user_app
from mburoja.cli.common import guard, print_json, store_for
from mburoja.cli.decay_cmd import decay_app
from mburoja.cli.disinfo_cmd import disinfo_app
from mburoja.cli.export_cmd import export_app
from mburoja.cli.feed_cmd import feed_app
from mburoja.cli.key_cmd import key_app
from mburoja.cli.match_cmd import match
from mburoja.cli.peer_cmd import peer_app
from mburoja.cli.render import (
    console,
    err_console,
    ingest_progress,
    print_report,
    quarantine_table,
    search_table,
    stats_table,
)
from mburoja.cli.taxii_cmd import taxii_app
from mburoja.cli.warninglist_cmd import warninglist_app
from mburoja.cli.worker_cmd import worker
from mburoja.config import Settings, ensure_secret, load_settings
from mburoja.demo.accounts import demo_accounts
from mburoja.ingest.ioc_list import IocOptions
from mburoja.ingest.pipeline import Ingestor, IngestReport
from mburoja.ingest.replay import replay
from mburoja.ingest.sources import items_for
from mburoja.stix import timestamps
from mburoja.stix.model import RawObject

app = typer.Typer(
    name="mburoja",
    help="Mburoja: collect, share, detect and counter hybrid threats (STIX 2.1).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
quarantine_app = typer.Typer(
    help="List, show and replay rejected input.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(org_app, name="org")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(collection_app, name="collection")
app.add_typer(taxii_app, name="taxii")
app.add_typer(key_app, name="key")
app.add_typer(peer_app, name="peer")
app.command()(match)
app.add_typer(export_app, name="export")
app.add_typer(disinfo_app, name="disinfo")
app.add_typer(warninglist_app, name="warninglist")
app.add_typer(feed_app, name="feed")
app.add_typer(decay_app, name="decay")
app.command()(worker)


class Format(StrEnum):
    auto = "auto"
    stix = "stix"
    misp = "misp"
    misp_feed = "misp-feed"
    csv = "csv"
    text = "text"


@app.callback()
def _main(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", help="Settings file (default ./mburoja.toml).")
    ] = None,
    data_dir: Annotated[
        str | None, typer.Option("--data-dir", help="Where the embedded store lives.")
    ] = None,
    store_url: Annotated[
        str | None,
        typer.Option("--store-url", help="sqlite:///file.db or postgresql://user@host/db"),
    ] = None,
) -> None:
    overrides: dict[str, Any] = {}
    if data_dir:
        overrides["data_dir"] = data_dir
    if store_url:
        overrides["store"] = {"url": store_url}
    ctx.obj = guard(lambda: load_settings(config, overrides=overrides))


@app.command()
def init(
    ctx: typer.Context,
    org: Annotated[
        str, typer.Option(help="Name of this instance's own (home) organisation, if new.")
    ] = "home",
) -> None:
    """Create the store (or migrate it to this version's schema), the home organisation and
    the instance secret (<data_dir>/secret.key) that signs TAXII cursors."""
    settings: Settings = ctx.obj
    store = store_for(settings, initialise=True)
    console.print(f"store ready at {store.engine.url.render_as_string(hide_password=True)}")
    home = store.home_org()
    if home is None:
        home = guard(lambda: store.create_org(org, "home"))
        console.print(f"home organisation {home.name!r} created ({home.identity_id})")
    else:
        console.print(f"home organisation is {home.name!r}")
    if not settings.auth.secret:
        console.print(f"instance secret in {ensure_secret(settings)}")
    store.close()


@app.command()
def ingest(
    ctx: typer.Context,
    inputs: Annotated[list[str], typer.Argument(help="Files, directories, URLs, or - for stdin.")],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Input format.")] = Format.auto,
    source: Annotated[
        str | None, typer.Option(help="Provenance label (default: the input's name).")
    ] = None,
    collection: Annotated[
        str | None, typer.Option(help="Add the objects to this collection (created if new).")
    ] = None,
    tlp: Annotated[str | None, typer.Option(help="IOC lists: TLP for the indicators.")] = None,
    confidence: Annotated[int | None, typer.Option(min=0, max=100, help="IOC lists.")] = None,
    label: Annotated[list[str] | None, typer.Option(help="IOC lists: labels (repeat).")] = None,
    valid_from: Annotated[str | None, typer.Option(help="IOC lists: STIX timestamp.")] = None,
    valid_until: Annotated[str | None, typer.Option(help="IOC lists: STIX timestamp.")] = None,
    column: Annotated[str | None, typer.Option(help="CSV: the column with the values.")] = None,
    allow_private: Annotated[
        bool, typer.Option(help="Allow fetching from private/loopback addresses.")
    ] = False,
    actor: Annotated[str, typer.Option(help="Who is ingesting (recorded).")] = "cli",
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
) -> None:
    """Ingest STIX bundles, MISP events or feeds, and CSV/text IOC lists."""
    settings: Settings = ctx.obj
    if allow_private:
        settings.fetch.allow_private = True
    store = store_for(settings)
    now = timestamps.now()
    reports: list[IngestReport] = []
    for spec in inputs:
        label_source = source or (spec if spec != "-" else "stdin")
        ioc = IocOptions(
            source=label_source,
            tlp=tlp,
            confidence=confidence,
            labels=tuple(label or ()),
            valid_from=valid_from,
            valid_until=valid_until,
            column=column,
        )
        with ingest_progress(label_source, enabled=not as_json and sys.stderr.isatty()) as tick:
            ingestor = Ingestor(store, settings, progress=tick)
            # partial binds this iteration's values now (items_for is a lazy generator)
            report = guard(
                partial(
                    ingestor.run,
                    items_for(spec, settings, fmt=fmt.value, ioc=ioc, now=now),
                    source=label_source,
                    actor=actor,
                    collection=collection,
                )
            )
        reports.append(report)
        if not as_json:
            print_report(report)
    if as_json:
        print_json(reports)
    store.close()
    if any(r.rejected for r in reports):
        raise typer.Exit(2)


@app.command()
def search(
    ctx: typer.Context,
    value: Annotated[str, typer.Argument(help="An IP, CIDR, domain, URL, hash, email, ASN…")],
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 500,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Where have we seen this value? Every object, in every source, that matches it."""
    store = store_for(ctx.obj)
    result = store.search(value, limit=limit)
    if as_json:
        print_json(result)
    else:
        console.print(search_table(result))
        if result.sources:
            console.print(
                f"sources: {', '.join(result.sources)}; first seen {result.first_seen}, "
                f"last seen {result.last_seen}"
            )
    store.close()


@app.command()
def stats(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Counts of objects, versions, types, TLP levels, observables and quarantine."""
    store = store_for(ctx.obj)
    result = store.stats()
    if as_json:
        print_json(result)
    else:
        console.print(stats_table(result))
    store.close()


@app.command("object")
def show_object(
    ctx: typer.Context,
    object_id: Annotated[str, typer.Argument(help="A STIX id, e.g. indicator--…")],
) -> None:
    """Print every stored version of an object, oldest first, exactly as received."""
    store = store_for(ctx.obj)
    versions = store.versions(object_id)
    if not versions:
        err_console.print(f"[red]error:[/red] no object {object_id}; try `mburoja search`")
        raise typer.Exit(1)
    for v in versions:
        flags = " current" if v.is_current else ""
        flags += " revoked" if v.revoked else ""
        err_console.print(f"# version {v.version or '(unversioned)'} added {v.date_added}{flags}")
        sys.stdout.write(v.raw.decode("utf-8") + "\n")
    store.close()


@quarantine_app.command("list")
def quarantine_list(
    ctx: typer.Context,
    status: Annotated[str, typer.Option(help="open, replayed, dismissed or all")] = "open",
    limit: Annotated[int, typer.Option(min=1)] = 100,
) -> None:
    """List quarantined items, oldest first."""
    store = store_for(ctx.obj)
    entries = store.quarantine_list(guard(lambda: quarantine_status(status)), limit)
    console.print(quarantine_table(entries))
    store.close()


@quarantine_app.command("show")
def quarantine_show(ctx: typer.Context, qid: int) -> None:
    """Show one quarantined item: why it was rejected, and its exact bytes."""
    store = store_for(ctx.obj)
    entry = guard(lambda: store.quarantine_get(qid))
    err_console.print(
        f"# {entry.origin}[{entry.index}] {entry.object_id or ''} — {entry.field}: "
        f"{entry.reason} (status {entry.status}, received {entry.received_at})",
        markup=False,
    )
    sys.stdout.write(entry.raw.decode("utf-8", errors="replace") + "\n")
    store.close()


@quarantine_app.command("replay")
def quarantine_replay(
    ctx: typer.Context,
    qid: int,
    file: Annotated[
        Path | None, typer.Option(help="A corrected version of the item to use instead.")
    ] = None,
) -> None:
    """Run a quarantined item through ingest again (optionally fixed); mark it replayed."""
    settings: Settings = ctx.obj
    store = store_for(settings)
    fixed = file.read_bytes() if file else None
    report = guard(lambda: replay(store, settings, qid, timestamps.now(), fixed))
    print_report(report)
    store.close()
    if report.rejected:
        raise typer.Exit(2)


@app.command()
def demo(
    ctx: typer.Context,
    seed: Annotated[int, typer.Option(help="Same seed, same scenario.")] = 7,
    indicators: Annotated[int, typer.Option(min=10, max=100000)] = 300,
    disinfo: Annotated[
        bool,
        typer.Option(
            help="Also store synthetic articles and posts (copy-paste families, coordinated "
            "accounts) and a narrative, for the disinformation view."
        ),
    ] = True,
) -> None:
    """Generate the synthetic demo scenario (an intrusion set against Albanian government
    networks) and ingest it into the collection ``demo``."""
    from mburoja.demo.disinfo import load_demo_disinfo
    from mburoja.demo.scenario import generate

    settings: Settings = ctx.obj
    store = store_for(settings)
    objects = generate(seed, indicators=indicators)
    items = (RawObject(orjson.dumps(o), f"demo(seed={seed})", i) for i, o in enumerate(objects))
    report = guard(
        lambda: Ingestor(store, settings).run(items, source="demo", actor="demo", collection="demo")
    )
    print_report(report)
    if disinfo:
        console.print(f"disinformation material (collection {settings.disinfo.collection}):")
        print_report(guard(lambda: load_demo_disinfo(store, settings, seed)))
    token = guard(lambda: demo_accounts(store, settings))
    if token:
        console.print(
            f"demo analyst token (also in {settings.data_dir}/demo-token): {token}", markup=False
        )
    store.close()


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
) -> None:
    """Serve the REST API and TAXII 2.1 on http://127.0.0.1:8000 (loopback unless told
    otherwise). Refuses to start without a home organisation or instance secret."""
    import uvicorn

    from mburoja.api.app import create_app
    from mburoja.logs import configure, uvicorn_config

    settings: Settings = ctx.obj
    if host:
        settings.server.host = host
    if port:
        settings.server.port = port
    configure(json=settings.server.json_logs)
    store = store_for(settings)
    web = guard(lambda: create_app(settings, store))
    base = f"http://{settings.server.host}:{settings.server.port}"
    console.print(f"Mburoja serving on {base}/api/health and TAXII 2.1 at {base}/taxii2/")
    uvicorn.run(
        web,
        host=settings.server.host,
        port=settings.server.port,
        log_level="info",
        log_config=uvicorn_config(),
        access_log=False,
    )


def main() -> None:  # pragma: no cover - the console-script entry point
    app()
