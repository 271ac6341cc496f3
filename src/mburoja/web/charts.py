"""Horizontal bar charts and column charts over time, as SVG drawn on the server.

``bar_chart`` and ``column_chart`` only compute geometry; the template ``_chart.html`` writes
the SVG elements, so every label and number passes through Jinja2's autoescape like any other
value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

ROW = 22  # height of one bar's row, px
LABEL_W = 190  # width of the label column, px
BAR_W = 300  # width of the longest bar, px


class Bar(msgspec.Struct, frozen=True, kw_only=True):
    label: str
    value: int
    y: int
    width: int
    css: str  # a class name from a fixed set, never from data


class Chart(msgspec.Struct, frozen=True, kw_only=True):
    title: str
    bars: tuple[Bar, ...]
    width: int
    height: int
    label_w: int
    row: int


#: the colour of each TLP level, as the suffix of its CSS class (``tlp-…``)
_TLP_SUFFIX = {
    "clear": "clear",
    "white": "clear",
    "green": "green",
    "amber": "amber",
    "amber+strict": "amber",
    "red": "red",
}


def tlp_css(tlp: str | None) -> str:
    """The CSS class suffix of a TLP level: ``clear``, ``green``, ``amber`` or ``red``, and
    ``none`` for anything else. From a fixed set, never from data."""
    return _TLP_SUFFIX.get((tlp or "").lower(), "none")


def bar_chart(title: str, counts: Mapping[str, int], *, tlp: bool = False) -> Chart:
    """Bars for ``counts`` (largest first), scaled to the largest value."""
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    top = max((v for _, v in items), default=0)
    bars = tuple(
        Bar(
            label=label,
            value=value,
            y=i * ROW,
            width=max(1, round(BAR_W * value / top)) if top else 0,
            css=(f"tlp-{tlp_css(label)}" if tlp_css(label) != "none" else "bar") if tlp else "bar",
        )
        for i, (label, value) in enumerate(items)
    )
    return Chart(
        title=title,
        bars=bars,
        width=LABEL_W + BAR_W + 80,
        height=max(ROW, len(bars) * ROW),
        label_w=LABEL_W,
        row=ROW,
    )


COL_H = 120  # height of the tallest column, px
COL_W = 10  # width of one column's slot, px
AXIS = 18  # room below the columns for the first and last labels, px


class Column(msgspec.Struct, frozen=True, kw_only=True):
    label: str  # the time bucket, shown in the column's tooltip
    value: int
    x: int
    y: int
    height: int


class Columns(msgspec.Struct, frozen=True, kw_only=True):
    """A column chart over time: one column per bucket, oldest on the left."""

    title: str
    columns: tuple[Column, ...]
    total: int
    width: int
    height: int
    base: int  # y of the columns' foot
    col_w: int
    first: str
    last: str


def column_chart(title: str, buckets: Sequence[tuple[str, int]]) -> Columns:
    """Columns for ``buckets`` (in time order), scaled to the largest value; every bucket
    gets its slot, empty ones too, so the time axis is even."""
    top = max((v for _, v in buckets), default=0)
    columns = tuple(
        Column(
            label=label,
            value=value,
            x=i * COL_W,
            height=h,
            y=COL_H - h,
        )
        for i, (label, value) in enumerate(buckets)
        for h in (max(1, round(COL_H * value / top)) if top and value else 0,)
    )
    return Columns(
        title=title,
        columns=columns,
        total=sum(v for _, v in buckets),
        width=max(COL_W, len(columns) * COL_W),
        height=COL_H + AXIS,
        base=COL_H,
        col_w=COL_W,
        first=buckets[0][0] if buckets else "",
        last=buckets[-1][0] if buckets else "",
    )
