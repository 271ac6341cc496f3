"""The geometry of the disinformation pages' SVG drawings: a cluster's spread timeline and a
coordination network's graph.

Only numbers and plain strings are computed here; ``disinfo_svg.html`` writes the SVG
elements, so every outlet name, account name and title passes through Jinja2's autoescape.
CSS classes come from fixed sets, never from data. The graph layout is networkx's spring
layout with a fixed seed, so the same network is drawn the same way on every load.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

import msgspec
import networkx as nx

from mburoja.disinfo.coordination import Network
from mburoja.disinfo.copies import CopyCluster
from mburoja.disinfo.model import Document

LABEL_W: Final = 200  # the outlet names' column, px
PLOT_W: Final = 520  # the time axis, px
ROW: Final = 24  # one outlet's lane, px
AXIS: Final = 34  # below the lanes: the axis and its labels, px
TICKS: Final = 4  # intervals between axis labels
GRAPH_W: Final = 640
GRAPH_H: Final = 420
MARGIN: Final = 40
SEED: Final = 7
#: the most accounts drawn in one network (the strongest; the others are counted)
MAX_NODES: Final = 120
_LABEL: Final = 28  # characters of a label


class Lane(msgspec.Struct, frozen=True, kw_only=True):
    label: str
    y: int


class Dot(msgspec.Struct, frozen=True, kw_only=True):
    x: float
    y: int
    #: ``pz`` (patient zero) or ``copy``
    css: str
    title: str


class Tick(msgspec.Struct, frozen=True, kw_only=True):
    x: float
    label: str


class Timeline(msgspec.Struct, frozen=True, kw_only=True):
    title: str
    width: int
    height: int
    plot_x: int
    plot_w: int
    axis_y: int
    lanes: tuple[Lane, ...]
    dots: tuple[Dot, ...]
    ticks: tuple[Tick, ...]
    #: the step line of outlets reached over time, as "x,y x,y ..."
    spread: str
    #: members without a publication time (not drawn)
    undated: int


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M")


def _cut(text: str, limit: int = _LABEL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def timeline(cluster: CopyCluster, documents: dict[str, Document]) -> Timeline:
    """Each outlet a lane (in the order it first carried the story), each copy a dot at its
    publication time, patient zero marked, and the number of outlets reached as a step line."""
    lanes = {s.source: i for i, s in enumerate(cluster.timeline)}
    for member in cluster.members:
        lanes.setdefault(member.source, len(lanes))
    dated = [m for m in cluster.members if m.published is not None]
    times = [m.published for m in dated if m.published is not None]
    start, end = (min(times), max(times)) if times else (0.0, 0.0)
    span = end - start or 1.0
    plot_x = LABEL_W

    def x_of(t: float) -> float:
        return round(plot_x + 10 + (PLOT_W - 20) * (t - start) / span, 1)

    dots = []
    for m in dated:
        doc = documents.get(m.id)
        title = doc.title if doc is not None and doc.title else m.id
        assert m.published is not None
        dots.append(
            Dot(
                x=x_of(m.published),
                y=lanes[m.source] * ROW + ROW // 2,
                css="pz" if m.id == cluster.patient_zero else "copy",
                title=f"{m.source} · {_when(m.published)} · {_cut(title, 120)}",
            )
        )
    height = max(1, len(lanes)) * ROW
    ticks = (
        tuple(
            Tick(x=x_of(start + span * i / TICKS), label=_when(start + span * i / TICKS))
            for i in range(TICKS + 1)
        )
        if times
        else ()
    )
    points: list[str] = []
    reached = 0
    for spread in cluster.timeline:
        if spread.published is None:
            continue
        x = x_of(spread.published)
        if points:
            points.append(f"{x},{height - reached * height / max(1, len(lanes)):.1f}")
        reached += 1
        points.append(f"{x},{height - reached * height / max(1, len(lanes)):.1f}")
    return Timeline(
        title=f"Spread of the story across {len(cluster.outlets)} outlets",
        width=LABEL_W + PLOT_W + 20,
        height=height + AXIS,
        plot_x=plot_x,
        plot_w=PLOT_W,
        axis_y=height,
        lanes=tuple(
            Lane(label=_cut(source), y=i * ROW + ROW // 2 + 4) for source, i in lanes.items()
        ),
        dots=tuple(dots),
        ticks=ticks,
        spread=" ".join(points),
        undated=len(cluster.members) - len(dated),
    )


class Node(msgspec.Struct, frozen=True, kw_only=True):
    x: float
    y: float
    r: int
    label: str
    title: str


class Line(msgspec.Struct, frozen=True, kw_only=True):
    x1: float
    y1: float
    x2: float
    y2: float
    width: int
    title: str


class Graph(msgspec.Struct, frozen=True, kw_only=True):
    network: str
    title: str
    width: int
    height: int
    nodes: tuple[Node, ...]
    lines: tuple[Line, ...]
    #: accounts left out of the drawing (beyond MAX_NODES)
    hidden: int


def graph(network: Network) -> Graph:
    """Accounts as nodes, co-shares as edges (thicker for more shared items), laid out with a
    fixed seed inside a ``GRAPH_W`` x ``GRAPH_H`` box."""
    members = sorted(network.members, key=lambda m: (-m.strength, m.account))[:MAX_NODES]
    shown = {m.account for m in members}
    g: nx.Graph[str] = nx.Graph()
    g.add_nodes_from(sorted(shown))
    edges = [e for e in network.edges if e.a in shown and e.b in shown]
    for e in edges:
        g.add_edge(e.a, e.b, weight=e.weight)
    layout = nx.spring_layout(g, seed=SEED, weight="weight") if len(g) > 1 else {}
    xs = [float(p[0]) for p in layout.values()] or [0.0]
    ys = [float(p[1]) for p in layout.values()] or [0.0]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)

    def place(account: str) -> tuple[float, float]:
        if account not in layout:
            return GRAPH_W / 2, GRAPH_H / 2
        px, py = layout[account]
        return (
            round(MARGIN + (GRAPH_W - 2 * MARGIN) * (float(px) - x0) / ((x1 - x0) or 1.0), 1),
            round(MARGIN + (GRAPH_H - 2 * MARGIN) * (float(py) - y0) / ((y1 - y0) or 1.0), 1),
        )

    top = max((e.weight for e in edges), default=1)
    strongest = max((m.strength for m in members), default=1) or 1
    nodes = []
    for m in members:
        x, y = place(m.account)
        name = m.name or m.account
        nodes.append(
            Node(
                x=x,
                y=y,
                r=4 + round(6 * m.strength / strongest),
                label=_cut(name, 20),
                title=f"{name} ({m.account}): {m.posts} posts, {m.coordinated_posts} "
                f"coordinated, {m.degree} partners",
            )
        )
    lines = []
    for e in edges:
        (ax, ay), (bx, by) = place(e.a), place(e.b)
        lines.append(
            Line(
                x1=ax,
                y1=ay,
                x2=bx,
                y2=by,
                width=1 + round(4 * e.weight / top),
                title=f"{e.a} and {e.b} co-shared {e.weight} items",
            )
        )
    return Graph(
        network=network.id,
        title=f"{len(network.members)} accounts, {len(network.edges)} co-sharing pairs",
        width=GRAPH_W,
        height=GRAPH_H,
        nodes=tuple(nodes),
        lines=tuple(lines),
        hidden=len(network.members) - len(members),
    )


def graphs(networks: Sequence[Network], limit: int) -> list[Graph]:
    """The first ``limit`` networks drawn (the caller orders them)."""
    return [graph(n) for n in networks[:limit]]
