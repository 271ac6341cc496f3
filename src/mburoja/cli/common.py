"""Helpers every ``mburoja`` command module shares: turning errors into exit code 1, opening
the store the settings name, and printing JSON. They live here, not in ``cli.main``, so the
sub-command modules that ``cli.main`` registers can use them without an import cycle.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import msgspec
import typer
from rich.markup import escape

from mburoja.cli.render import err_console
from mburoja.config import Settings
from mburoja.errors import MburojaError
from mburoja.store.sql import SqlStore, open_store

T = TypeVar("T")


def guard(fn: Callable[[], T]) -> T:
    """Run ``fn``; turn a Mburoja error into a red message and exit code 1.

    The message is escaped: it often quotes user input, which must not be read as markup.
    """
    try:
        return fn()
    except MburojaError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}", markup=True, highlight=False)
        raise typer.Exit(1) from None


def to_json(value: Any) -> str:
    """``value`` (structs, dicts, lists) as indented JSON text."""
    return msgspec.json.format(msgspec.json.encode(value), indent=2).decode()


def print_json(value: Any) -> None:
    """Write ``value`` as JSON to stdout, bypassing rich so nothing is wrapped or styled."""
    sys.stdout.write(to_json(value) + "\n")


def store_for(settings: Settings, *, initialise: bool = False) -> SqlStore:
    """The store the settings name; an unreachable or uninitialised one exits 1 with why."""
    return guard(
        lambda: open_store(settings.store_url, initialise=initialise, policy=settings.policy)
    )


@contextmanager
def opened(ctx: typer.Context) -> Iterator[SqlStore]:
    """The store of the settings in ``ctx``, closed afterwards even when a command fails."""
    store = store_for(ctx.obj)
    try:
        yield store
    finally:
        store.close()


#: The ``--json`` flag of listing and showing commands.
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def shown(value: Any) -> str:
    """A value for a table cell, safe for rich (markup escaped): ``-`` for nothing, lists
    and tuples joined with commas."""
    if value is None or value == () or value == []:
        return "-"
    if isinstance(value, list | tuple):
        return escape(", ".join(str(v) for v in value))
    return escape(str(value))
