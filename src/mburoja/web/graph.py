"""The graph page: ``/graph/<id>`` draws an object's neighbourhood (``mburoja.graph``) as SVG,
and ``/graph/<id>.json?hops=1`` gives the same data as the API for the page's "expand".

The layout is made here, on the server, so the page is whole without JavaScript: the root in
the middle, each hop on a ring around it, a hop-2 object next to the hop-1 object that led to
it. The template writes the SVG (every label through Jinja2's autoescape); ``graph.js`` only
adds what an "expand" fetches, with ``createElementNS`` and ``textContent``.
"""

from __future__ import annotations

import math

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from mburoja.errors import MburojaError, NotFound, StoreUnavailable
from mburoja.graph import Neighbourhood, neighbourhood, parse_hops
from mburoja.web.charts import tlp_css
from mburoja.web.context import Signed, WebContext, secured

RING = 170  # px between two rings
SPACING = 46  # px of ring per node, at least
MARGIN = 190  # px around the outer ring, for the labels
TEXT = 40  # characters of a label drawn on the graph (the table below has more)
_encoder = msgspec.json.Encoder()


class PlacedNode(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    type: str
    label: str
    text: str  # what is drawn: type and label, cut
    tlp: str
    css: str  # a class from a fixed set, never from data
    hop: int
    x: float
    y: float


class PlacedEdge(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    target: str
    label: str
    x1: float
    y1: float
    x2: float
    y2: float


class Drawing(msgspec.Struct, frozen=True, kw_only=True):
    nodes: tuple[PlacedNode, ...]
    edges: tuple[PlacedEdge, ...]
    size: int


def layout(graph: Neighbourhood) -> Drawing:
    """Rings by hop around the root; on each ring the nodes in the order of their parent's
    angle, so that what one hop-1 object leads to sits beside it."""
    rings: dict[int, list[str]] = {}
    for node in graph.nodes:
        rings.setdefault(node.hop, []).append(node.id)
    neighbours: dict[str, list[str]] = {}
    for e in graph.edges:
        neighbours.setdefault(e.source, []).append(e.target)
        neighbours.setdefault(e.target, []).append(e.source)
    hop_of = {n.id: n.hop for n in graph.nodes}
    angle: dict[str, float] = {graph.root: 0.0}
    radius_of: dict[int, float] = {0: 0.0}
    radius = 0.0
    for hop in sorted(h for h in rings if h > 0):
        ids = rings[hop]

        def parent_angle(oid: str, hop: int = hop) -> float:
            parents = [angle[p] for p in neighbours.get(oid, []) if hop_of.get(p) == hop - 1]
            return min(parents, default=0.0)

        ids.sort(key=parent_angle)
        radius = max(radius + RING, len(ids) * SPACING / (2 * math.pi))
        radius_of[hop] = radius
        for i, oid in enumerate(ids):
            angle[oid] = 2 * math.pi * i / len(ids) - math.pi / 2
    centre = radius + MARGIN
    where: dict[str, tuple[float, float]] = {}
    nodes = []
    for node in graph.nodes:
        r, a = radius_of[node.hop], angle[node.id]
        x, y = round(centre + r * math.cos(a), 1), round(centre + r * math.sin(a), 1)
        where[node.id] = (x, y)
        text = f"{node.type}: {node.label}" if node.label != node.type else node.type
        nodes.append(
            PlacedNode(
                id=node.id,
                type=node.type,
                label=node.label,
                text=text if len(text) <= TEXT else text[: TEXT - 1] + "…",
                tlp=node.tlp,
                css=f"tlp-{tlp_css(node.tlp)}",
                hop=node.hop,
                x=x,
                y=y,
            )
        )
    edges = tuple(
        PlacedEdge(
            source=e.source,
            target=e.target,
            label=e.label,
            x1=where[e.source][0],
            y1=where[e.source][1],
            x2=where[e.target][0],
            y2=where[e.target][1],
        )
        for e in graph.edges
    )
    return Drawing(nodes=tuple(nodes), edges=edges, size=round(2 * centre))


def routes(web: WebContext) -> list[BaseRoute]:
    def page(request: Request, signed: Signed) -> Response:
        hops = parse_hops(request.query_params.get("hops"))
        graph = neighbourhood(
            web.store, web.policy, signed.caller, request.path_params["object_id"], hops
        )
        return web.show(signed, "graph.html", graph=graph, drawing=layout(graph), hops=hops)

    def data(request: Request, signed: Signed) -> Response:
        """The page's "expand": the API's answer, for the signed-in user (errors as JSON)."""
        try:
            hops = parse_hops(request.query_params.get("hops"))
            graph = neighbourhood(
                web.store, web.policy, signed.caller, request.path_params["object_id"], hops
            )
        except NotFound as exc:
            return _json({"error": str(exc), "status": 404}, 404)
        except StoreUnavailable as exc:
            return _json({"error": str(exc), "status": 503}, 503)
        except MburojaError as exc:
            return _json({"error": str(exc), "status": 400}, 400)
        return _json(graph)

    return [
        web.get("/graph/{object_id}.json", data, name="graph_json"),
        web.get("/graph/{object_id}", page, name="graph"),
    ]


def _json(content: object, status: int = 200) -> Response:
    return secured(
        Response(_encoder.encode(content), status_code=status, media_type="application/json")
    )
