"""``mburoja warninglist``: which warning lists are in force, and whether a value is on one.

The rules (which lists, how a value matches) are :mod:`mburoja.lifecycle.warninglists`';
these commands only ask it and print the answer.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from mburoja.cli.common import AsJson, guard, print_json
from mburoja.cli.render import console
from mburoja.config import Settings
from mburoja.lifecycle.warninglists import all_lists, from_settings

warninglist_app = typer.Typer(
    help="Warning lists: known-benign values held out of detection and exports.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@warninglist_app.command("list")
def list_lists(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Every warning list the settings know, whether it is in force, and its size."""
    settings: Settings = ctx.obj
    found = guard(lambda: all_lists(settings.warninglists))
    rows = [
        {
            "name": wl.name,
            "type": wl.type,
            "values": len(wl.values),
            "in_force": on,
            "description": wl.description,
            "source": wl.source,
        }
        for wl, on in found
    ]
    if as_json:
        print_json(rows)
        return
    table = Table("name", "type", "values", "in force", "description")
    for row in rows:
        table.add_row(
            str(row["name"]),
            str(row["type"]),
            f"{row['values']:,}",
            "yes" if row["in_force"] else "no",
            str(row["description"]),
        )
    console.print(table)
    if not settings.warninglists.enabled:
        console.print("warning lists are switched off (warninglists.enabled = false)")


@warninglist_app.command("check")
def check(
    ctx: typer.Context,
    value: Annotated[str, typer.Argument(help="an address, network, domain or other value")],
    as_json: AsJson = False,
) -> None:
    """Say whether VALUE is on a warning list in force (exit 0 either way)."""
    settings: Settings = ctx.obj
    lists = guard(lambda: from_settings(settings.warninglists))
    hit = lists.check(value)
    if as_json:
        print_json(
            {"value": value, "listed": hit is not None}
            | ({"list": hit.list, "entry": hit.entry} if hit else {})
        )
        return
    if hit is None:
        console.print(f"{value}: on no warning list in force", markup=False, highlight=False)
    else:
        console.print(
            f"{value}: on warning list {hit.list} (entry {hit.entry}); indicators for it are "
            "held out of detection and exports",
            markup=False,
            highlight=False,
        )
