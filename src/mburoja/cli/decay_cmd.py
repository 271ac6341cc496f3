"""``mburoja decay``: an indicator's decay score explained, and the scores of them all.

The model and the rules are :mod:`mburoja.lifecycle.decay`'s, the reading of the store
:mod:`mburoja.lifecycle.scores`'; these commands ask them and print the answer.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from mburoja.cli.common import AsJson, guard, opened, print_json
from mburoja.cli.render import console
from mburoja.config import Settings
from mburoja.errors import ConfigError, NotFound
from mburoja.lifecycle.decay import from_settings
from mburoja.lifecycle.scores import object_decay, recompute
from mburoja.stix import timestamps

decay_app = typer.Typer(
    help="Indicator decay: scores that fall with age; under the threshold, out of detection.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

At = Annotated[
    str | None,
    typer.Option("--at", help="The moment to score at, a STIX timestamp (default: now)."),
]


def _moment(at: str | None) -> float | None:
    if at is None:
        return None
    try:
        return timestamps.parse(at).timestamp()
    except (ValueError, TypeError):
        raise ConfigError(
            f"--at {at!r} is not a timestamp; give one like 2026-01-31T00:00:00Z"
        ) from None


@decay_app.command("show")
def show(
    ctx: typer.Context,
    object_id: Annotated[str, typer.Argument(help="an indicator id (indicator--UUID)")],
    at: At = None,
    as_json: AsJson = False,
) -> None:
    """Explain the decay score of indicator OBJECT_ID: model, base, lifetime, reset and
    when it drops under the threshold (exit 1 when there is no such indicator)."""
    settings: Settings = ctx.obj
    models = guard(lambda: from_settings(settings.decay))
    now = guard(lambda: _moment(at))
    with opened(ctx) as store:
        version = store.current(object_id)
        if version is None or version.type != "indicator":
            guard(lambda: _missing(object_id))
        found = object_decay(store, models, object_id, policy=None, caller=None, now=now)
    if as_json:
        print_json({"id": object_id, "decay": found})
        return
    if found is None:
        why = (
            "decay is switched off (decay.enabled = false)"
            if not settings.decay.enabled
            else f"no decay model takes its source {version.source if version else '?'!r}"
        )
        console.print(f"{object_id}: does not decay: {why}", markup=False, highlight=False)
        return
    table = Table("", "", show_header=False)
    table.add_row("score", f"{found.score:.2f} at {found.at}")
    table.add_row("", found.note)
    table.add_row("model", found.model)
    table.add_row("base", f"{found.base:g}")
    table.add_row("threshold", f"{found.threshold:g}")
    table.add_row("lifetime", f"{found.lifetime_days:g} days (speed {found.speed:g})")
    table.add_row("reset", f"{found.reset} (by {found.reset_by})")
    table.add_row("drops below threshold", found.drops_below or "never above it")
    console.print(object_id, markup=False, highlight=False)
    console.print(table)


def _missing(object_id: str) -> None:
    raise NotFound(f"no indicator {object_id!r} in the store; check the id (indicator--UUID)")


@decay_app.command("recompute")
def recompute_cmd(ctx: typer.Context, at: At = None, as_json: AsJson = False) -> None:
    """Score every current indicator now (or --at), counted by model, with how many are at
    or under their threshold (and so out of detection and the exports)."""
    settings: Settings = ctx.obj
    models = guard(lambda: from_settings(settings.decay))
    now = guard(lambda: _moment(at))
    with opened(ctx) as store:
        found = recompute(store, models, now=now)
    if as_json:
        print_json(found)
        return
    table = Table("model", "indicators", "under threshold", "mean score")
    for name, count in found.by_model.items():
        table.add_row(name, f"{count.indicators:,}", f"{count.below:,}", f"{count.mean_score:g}")
    table.add_row("(no model: no decay)", f"{found.no_model:,}", "-", "-")
    console.print(table)
    console.print(
        f"{found.indicators:,} indicators scored at {found.at} in {found.seconds:g} s "
        f"({found.per_second:,.0f}/s); {found.below:,} under their threshold, out of "
        "detection and the exports",
        markup=False,
        highlight=False,
    )
