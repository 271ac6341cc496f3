"""What the dashboard shows one caller: counts by type and TLP, and the newest objects it
may see. Everything is read through the policy as that caller."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import orjson

from mburoja.policy import Caller, Policy
from mburoja.store.base import Stats
from mburoja.store.sql import SqlStore
from mburoja.web.charts import Chart, bar_chart

#: how many of the newest current objects are looked at, and how many are shown
SCAN = 200
SHOWN = 15
_TEXT = 200  # characters of a name or pattern shown
_TLP_CSS = {"clear", "white", "green", "amber", "amber+strict", "red"}


class Row(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    type: str
    added: str
    tlp: str
    tlp_css: str  # from a fixed set, never from data
    name: str
    value: str


class Dashboard(msgspec.Struct, frozen=True, kw_only=True):
    stats: Stats
    by_type: Chart
    by_tlp: Chart
    newest: tuple[Row, ...]


def dashboard(
    store: SqlStore, policy: Policy, caller: Caller, stats: Callable[[Caller], Stats]
) -> Dashboard:
    seen = stats(caller)
    return Dashboard(
        stats=seen,
        by_type=bar_chart("Objects by type", seen.by_type),
        by_tlp=bar_chart("Objects by TLP", seen.by_tlp, tlp=True),
        newest=tuple(newest(store, policy, caller)),
    )


def newest(store: SqlStore, policy: Policy, caller: Caller) -> list[Row]:
    """Up to ``SHOWN`` of the ``SCAN`` most recently added current objects that ``caller``
    may see, as the policy shows them (redacted properties stay redacted)."""
    order = store.newest_ids(SCAN)
    current = store.current_many(order)
    rows: list[Row] = []
    for object_id in order:
        version = current.get(object_id)
        if version is None:
            continue
        view = policy.view(caller, version.owner, version.markings, version.raw)
        if view is None:
            continue
        body = orjson.loads(view)
        tlp = version.tlp or "none"
        rows.append(
            Row(
                id=object_id,
                type=version.type,
                added=version.date_added[:19].replace("T", " "),
                tlp=tlp,
                tlp_css=tlp.replace("+strict", "") if tlp in _TLP_CSS else "none",
                name=_text(body.get("name")),
                value=_text(body.get("pattern", body.get("value"))),
            )
        )
        if len(rows) == SHOWN:
            break
    return rows


def _text(value: object) -> str:
    if not isinstance(value, str):
        return ""
    return value if len(value) <= _TEXT else value[: _TEXT - 1] + "…"
