"""Horizontal bar charts as SVG, drawn on the server.

``bar_chart`` only computes geometry; the template ``_chart.html`` writes the SVG elements,
so every label and number passes through Jinja2's autoescape like any other value.
"""

from __future__ import annotations

from collections.abc import Mapping

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


#: the CSS classes of the TLP levels; anything else gets the neutral bar
_TLP_CSS = {
    "clear": "tlp-clear",
    "white": "tlp-clear",
    "green": "tlp-green",
    "amber": "tlp-amber",
    "amber+strict": "tlp-amber",
    "red": "tlp-red",
}


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
            css=_TLP_CSS.get(label.lower(), "bar") if tlp else "bar",
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
