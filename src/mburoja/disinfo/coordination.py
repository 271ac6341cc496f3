"""Coordinated link sharing: accounts that share the same URL, or near-identical text, within
seconds of each other, again and again (CooRnet, Giglietto et al. 2020).

:func:`detect_coordination` runs the whole method on post :class:`Document` values:

1. **Shares.** Each post gives one share per distinct normalised URL it carries
   (:func:`normalise_url`); with ``text=True`` also one share of its normalised text
   (:func:`normalise_text`) when that is at least ``min_text_chars`` long.
2. **Interval.** :func:`estimate_interval` (CooRnet's ``estimate_coord_interval``) unless
   the caller sets ``interval`` by hand.
3. **Coordinated co-shares.** Per URL (or text), shares sorted by time; every two shares by
   different accounts at most ``interval`` seconds apart are a co-share (a sliding window,
   so a pair is never split by a bin boundary as with CooRnet's fixed ``cut()`` bins).
4. **Edges.** Account pair weight = the number of distinct URLs and texts the pair co-shared.
   Edges at or above ``max(quantile(weights, edge_quantile), min_weight)`` are kept.
5. **Networks.** Connected components and Louvain communities (``networkx``, fixed seed) of
   the kept edges, each with members, shared URLs and the evidence of every edge.

Cost: one pass over the posts, a sort per URL and the co-share pairs themselves; never all
pairs of posts. See ``docs/disinfo/coordination.md``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from hashlib import blake2b
from typing import Final

import msgspec
import networkx as nx

from mburoja.disinfo.model import POST, Document

#: query parameters that only track the click, never choose the page (``utm_*`` by prefix)
TRACKING_PARAMS: Final = frozenset(
    {"fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "igshid", "igsh"}
    | {"mc_cid", "mc_eid", "_hsenc", "_hsmi", "ref_src", "ref_url", "ncid", "ocid", "cmpid"}
    | {"si", "__twitter_impression"}
)
TRACKING_PREFIXES: Final = ("utm_", "__cft__", "__tn__")
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_URL_IN_TEXT: Final = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_NON_WORD: Final = re.compile(r"[\W_]+")
_SCHEME: Final = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
#: ``mailto:``, ``javascript:``, ``tel:``: a scheme without ``//`` (not ``host:port``)
_OTHER_SCHEME: Final = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:(?!\d)")
_NETLOC: Final = re.compile(r"([^/?]*)(.*)", re.DOTALL)


class IntervalEstimate(msgspec.Struct, frozen=True, kw_only=True):
    """How the coordination interval was estimated from the data (CooRnet)."""

    #: the coordination interval, seconds
    seconds: float
    q: float
    p: float
    #: URLs shared at least twice (the ones the estimate reads)
    urls: int
    #: of those, the fastest ``q`` by second-share delay
    fastest: int
    #: the second-share delay at the ``q`` quantile: the fastest URLs are at or under it
    second_share_cutoff: float
    #: min, quartiles and max of the fastest URLs' times to pass ``p`` of their shares
    summary: tuple[float, float, float, float, float]
    #: the estimate came out 0 and was raised to 1 s, as CooRnet does
    raised_to_one: bool = False


class CoShare(msgspec.Struct, frozen=True, kw_only=True):
    """Evidence: two posts by the two accounts of an edge, sharing ``item`` within the
    interval. ``post_a`` is by the edge's ``a`` account."""

    #: ``url`` or ``text``
    kind: str
    #: the normalised URL, or ``text:<digest>`` of the normalised text
    item: str
    post_a: str
    time_a: float
    post_b: str
    time_b: float
    #: for a text co-share, the start of the text as the first post with it wrote it
    excerpt: str = ""


class Edge(msgspec.Struct, frozen=True, kw_only=True):
    """Two accounts (``a`` < ``b``) that co-shared ``weight`` distinct URLs or texts."""

    a: str
    b: str
    weight: int
    #: the first co-share of each item, by time
    evidence: tuple[CoShare, ...]


class Member(msgspec.Struct, frozen=True, kw_only=True):
    account: str
    name: str | None
    #: posts by the account in the input
    posts: int
    #: its posts that appear in the network's evidence
    coordinated_posts: int
    #: edges and summed edge weight inside the network
    degree: int
    strength: int


class Network(msgspec.Struct, frozen=True, kw_only=True):
    """A connected component or a community of coordinated accounts."""

    #: ``component-<digest>`` or ``community-<digest>`` of the sorted members: stable
    id: str
    kind: str
    members: tuple[Member, ...]
    #: co-shared URLs, most edges first
    urls: tuple[str, ...]
    #: co-shared texts (``text:<digest>`` items), most edges first
    texts: tuple[str, ...]
    edges: tuple[Edge, ...]
    first_seen: float
    last_seen: float

    @property
    def accounts(self) -> tuple[str, ...]:
        return tuple(m.account for m in self.members)

    @property
    def posts(self) -> tuple[str, ...]:
        """The ids of every post in the evidence."""
        return tuple(
            sorted({p for e in self.edges for c in e.evidence for p in (c.post_a, c.post_b)})
        )

    def evidence_lines(self) -> list[str]:
        """The evidence trail as text, one co-share a line."""
        return [
            f"{e.a} and {e.b} shared {c.excerpt or c.item!r} {abs(c.time_b - c.time_a):.1f}s "
            f"apart: posts {c.post_a} at {c.time_a:.3f} and {c.post_b} at {c.time_b:.3f}"
            for e in self.edges
            for c in e.evidence
        ]


class CoordinationResult(msgspec.Struct, frozen=True, kw_only=True):
    #: seconds; None when there was nothing to estimate it from (then nothing is linked)
    interval: float | None
    #: None when the interval was set by hand
    estimate: IntervalEstimate | None
    posts: int
    #: inputs that are not posts or have no ``published`` time: left out
    skipped: int
    shares: int
    #: account pairs with at least one co-share, before the weight threshold
    pairs: int = 0
    #: the weight an edge needed to be kept (None when nothing was linked)
    threshold: float | None = None
    edges: tuple[Edge, ...] = ()
    components: tuple[Network, ...] = ()
    communities: tuple[Network, ...] = ()

    @property
    def accounts(self) -> frozenset[str]:
        """Every account in a kept edge."""
        return frozenset(a for e in self.edges for a in (e.a, e.b))


def _tracking(param: str) -> bool:
    key = param.split("=", 1)[0].lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def normalise_url(url: str) -> str | None:
    """One spelling per link: scheme and host lower-cased, ``http://`` added when the scheme
    is missing, user info, default port, fragment, tracking parameters
    (:data:`TRACKING_PARAMS`, ``utm_*``) and an empty ``?`` dropped, the remaining query
    parameters sorted (as written, not re-encoded), an empty path made ``/``. None for what
    is not an ``http(s)`` link."""
    url = url.strip()
    if not url:
        return None
    if not _SCHEME.match(url):
        if _OTHER_SCHEME.match(url):
            return None
        url = "http://" + url.lstrip("/")
    scheme, _, rest = url.split("#", 1)[0].partition("://")
    scheme = scheme.lower()
    default_port = _DEFAULT_PORTS.get(scheme)
    if default_port is None:
        return None
    netloc, tail = _NETLOC.match(rest).groups()  # type: ignore[union-attr]
    netloc = netloc.rpartition("@")[2]
    host, port = netloc, ""
    if netloc.startswith("["):
        close = netloc.find("]")
        if close < 0:
            return None
        host, port = netloc[: close + 1], netloc[close + 1 :].lstrip(":")
    elif ":" in netloc:
        host, _, port = netloc.partition(":")
    host = host.lower().rstrip(".")
    if not host or (port and not port.isdigit()):
        return None
    if port and int(port) != default_port:
        host = f"{host}:{int(port)}"
    path, _, query = tail.partition("?")
    if query:
        query = "&".join(sorted(q for q in query.split("&") if q and not _tracking(q)))
    return f"{scheme}://{host}{path or '/'}{'?' if query else ''}{query}"


def normalise_text(text: str) -> str:
    """Text reduced to its words: NFKC, case-folded, links removed, punctuation and
    whitespace runs made one space. Texts equal after this are "near-identical"."""
    text = text.lower() if text.isascii() else unicodedata.normalize("NFKC", text).casefold()
    if "://" in text or "www." in text:
        text = _URL_IN_TEXT.sub(" ", text)
    return _NON_WORD.sub(" ", text).strip()


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile with linear interpolation (R's default, type 7, as CooRnet uses)."""
    xs = sorted(values)
    h = (len(xs) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


def _estimate(times: Iterable[Sequence[float]], q: float, p: float) -> IntervalEstimate | None:
    """CooRnet's estimate over the sorted share times of each URL (see
    :func:`estimate_interval`)."""
    second: list[float] = []
    to_p: list[float] = []
    for ts in times:
        n = len(ts)
        if n < 2:
            continue
        # the first share (1-based rank r) with r / n > p
        r = math.floor(p * n) + 1
        while r < n and r / n <= p:  # guard against rounding in p * n
            r += 1
        while r > 1 and (r - 1) / n > p:
            r -= 1
        second.append(ts[1] - ts[0])
        to_p.append(ts[r - 1] - ts[0])
    if not second:
        return None
    cutoff = quantile(second, q)
    fast = [t for s, t in zip(second, to_p, strict=True) if s <= cutoff]
    seconds = quantile(fast, p)
    summary = (
        min(fast),
        quantile(fast, 0.25),
        quantile(fast, 0.5),
        quantile(fast, 0.75),
        max(fast),
    )
    return IntervalEstimate(
        seconds=1.0 if seconds <= 0 else seconds,
        q=q,
        p=p,
        urls=len(second),
        fastest=len(fast),
        second_share_cutoff=cutoff,
        summary=summary,
        raised_to_one=seconds <= 0,
    )


def _check_qp(q: float, p: float) -> None:
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be in [0, 1], not {q}")
    if not 0.0 <= p < 1.0:
        raise ValueError(f"p must be in [0, 1), not {p}")


def estimate_interval(
    posts: Iterable[Document], *, q: float = 0.1, p: float = 0.5
) -> IntervalEstimate | None:
    """The coordination interval, estimated from the URL shares as CooRnet does.

    For every URL shared at least twice, with its shares ranked by time (rank 1 first):
    its *second-share delay* (rank 2 minus rank 1) and its *time to pass p*: the delay from
    the first share to the first share whose rank / count is strictly above ``p``. The
    fastest URLs are those whose second-share delay is at or under the ``q`` quantile of
    all second-share delays. The interval is the ``p`` quantile (the median for ``p = 0.5``)
    of the fastest URLs' times to pass ``p``; 0 becomes 1 s. None when no URL is shared
    twice.
    """
    _check_qp(q, p)
    by_url: dict[str, list[float]] = {}
    for doc in posts:
        if doc.kind != POST or doc.published is None:
            continue
        for u in {k for k in map(normalise_url, doc.urls) if k}:
            by_url.setdefault(u, []).append(doc.published)
    return _estimate((sorted(ts) for ts in by_url.values()), q, p)


def _digest(text: str) -> str:
    return blake2b(text.encode(), digest_size=8).hexdigest()


class _Shares:
    """The shares of a batch of posts, as parallel lists (share ``i`` is post ``doc[i]`` by
    account ``acc[i]`` at ``time[i]``), and the shares of each item (URL or text), sorted by
    time. Accounts are numbered in the order of their ids."""

    def __init__(self, posts: Sequence[Document], text: bool, min_text_chars: int) -> None:
        self.doc: list[int] = []
        self.acc: list[int] = []
        self.time: list[float] = []
        self.excerpts: dict[str, str] = {}
        self.skipped = 0
        items: dict[str, list[int]] = {}
        index: dict[str, int] = {}
        names: dict[str, str | None] = {}
        counts: Counter[str] = Counter()
        url_cache: dict[str, str | None] = {}
        for d, doc in enumerate(posts):
            t = doc.published
            if doc.kind != POST or t is None:
                self.skipped += 1
                continue
            a = index.setdefault(doc.source, len(index))
            counts[doc.source] += 1
            if names.get(doc.source) is None:
                names[doc.source] = doc.source_name
            keys: list[str] = []
            for raw in doc.urls:
                if raw in url_cache:
                    key = url_cache[raw]
                else:
                    key = url_cache[raw] = normalise_url(raw)
                if key is not None and key not in keys:
                    keys.append(key)
            if text and doc.text:
                norm = normalise_text(doc.text)
                if len(norm) >= min_text_chars:
                    keys.append(key := "text:" + _digest(norm))
                    self.excerpts.setdefault(key, doc.text[:160])
            for key in keys:
                items.setdefault(key, []).append(len(self.doc))
                self.doc.append(d)
                self.acc.append(a)
                self.time.append(t)
        self.accounts = sorted(index)
        self.names = [names[a] for a in self.accounts]
        self.posts = [counts[a] for a in self.accounts]
        rank = {a: r for r, a in enumerate(self.accounts)}
        renumber = [rank[a] for a in index]  # first-seen number -> number in id order
        self.acc = [renumber[a] for a in self.acc]
        # URLs first, then texts: a text match is dropped when its two posts co-share a URL
        self.groups: list[tuple[str, list[int]]] = []
        for texts in (False, True):
            for key, idx in items.items():
                if len(idx) > 1 and key.startswith("text:") is texts:
                    idx.sort(key=self.time.__getitem__)
                    self.groups.append((key, idx))

    def estimate(self, q: float, p: float, text: bool) -> IntervalEstimate | None:
        """From the URLs; from the texts when no URL is shared twice."""
        times = self.time
        urls = ([times[i] for i in idx] for k, idx in self.groups if not k.startswith("text:"))
        found = _estimate(urls, q, p)
        if found is None and text:
            found = _estimate(([times[i] for i in idx] for _, idx in self.groups), q, p)
        return found

    def co_shares(self, interval: float, text: bool) -> dict[int, dict[int, tuple[int, int]]]:
        """Account pair (``a * n + b``, ``a < b``) -> item (index in ``groups``) -> the
        pair's first co-share of it: (share by ``a``, share by ``b``)."""
        n = len(self.accounts)
        pairs: dict[int, dict[int, tuple[int, int]]] = {}
        url_post_pairs: set[tuple[int, int]] = set()
        for g, (key, idx) in enumerate(self.groups):
            is_text = key.startswith("text:")
            times = [self.time[i] for i in idx]
            accs = [self.acc[i] for i in idx]
            if min(accs) == max(accs):
                continue
            for x in range(len(idx) - 1):
                end = bisect_right(times, times[x] + interval, x + 1)
                ax = accs[x]
                for y in range(x + 1, end):
                    ay = accs[y]
                    if ay == ax:
                        continue
                    sx, sy = (idx[x], idx[y]) if ax < ay else (idx[y], idx[x])
                    if text:
                        posts = self.doc[sx], self.doc[sy]
                        if not is_text:
                            url_post_pairs.add(posts)
                        elif posts in url_post_pairs:
                            continue  # the same two posts already co-share a URL
                    pk = ax * n + ay if ax < ay else ay * n + ax
                    per_item = pairs.get(pk)
                    if per_item is None:
                        pairs[pk] = {g: (sx, sy)}
                    elif g not in per_item:
                        per_item[g] = (sx, sy)
        return pairs

    def edge(
        self, posts: Sequence[Document], pk: int, per_item: dict[int, tuple[int, int]]
    ) -> Edge:
        n = len(self.accounts)
        evidence = []
        for g, (sx, sy) in per_item.items():
            key = self.groups[g][0]
            is_text = key.startswith("text:")
            evidence.append(
                CoShare(
                    kind="text" if is_text else "url",
                    item=key,
                    post_a=posts[self.doc[sx]].id,
                    time_a=self.time[sx],
                    post_b=posts[self.doc[sy]].id,
                    time_b=self.time[sy],
                    excerpt=self.excerpts.get(key, "") if is_text else "",
                )
            )
        evidence.sort(key=lambda c: (min(c.time_a, c.time_b), c.item))
        a, b = self.accounts[pk // n], self.accounts[pk % n]
        return Edge(a=a, b=b, weight=len(per_item), evidence=tuple(evidence))


def detect_coordination(
    posts: Sequence[Document],
    *,
    interval: float | None = None,
    q: float = 0.1,
    p: float = 0.5,
    edge_quantile: float | None = 0.9,
    min_weight: int = 2,
    text: bool = False,
    min_text_chars: int = 40,
    seed: int = 0,
    resolution: float = 1.0,
) -> CoordinationResult:
    """Find coordinated link sharing among ``posts`` (see the module docstring).

    ``interval``: seconds, or None to estimate it (``q``, ``p``: :func:`estimate_interval`;
    from the texts when no URL is shared twice and ``text`` is on).
    ``edge_quantile``: keep edges at or above this quantile of all edge weights (CooRnet's
    ``percentile_edge_weight``); None to use ``min_weight`` alone. ``min_weight``: the least
    weight kept in any case (2: one co-share alone is never coordination). ``text``: also
    link near-identical texts of at least ``min_text_chars`` characters. ``seed`` and
    ``resolution`` go to Louvain.
    """
    _check_qp(q, p)
    if interval is not None and interval < 0:
        raise ValueError(f"interval must be >= 0, not {interval}")
    shares = _Shares(posts, text, min_text_chars)
    estimate = shares.estimate(q, p, text) if interval is None else None
    if estimate is not None:
        interval = estimate.seconds
    read, skipped = len(posts) - shares.skipped, shares.skipped
    if interval is None:
        return CoordinationResult(
            interval=None, estimate=None, posts=read, skipped=skipped, shares=len(shares.doc)
        )
    pairs = shares.co_shares(interval, text)
    threshold = float(min_weight)
    if edge_quantile is not None and pairs:
        threshold = max(threshold, quantile([len(v) for v in pairs.values()], edge_quantile))
    edges = sorted(
        (shares.edge(posts, pk, v) for pk, v in pairs.items() if len(v) >= threshold),
        key=lambda e: (e.a, e.b),
    )
    info = {a: (shares.names[i], shares.posts[i]) for i, a in enumerate(shares.accounts)}
    components, communities = _networks(edges, info, seed, resolution)
    return CoordinationResult(
        interval=interval,
        estimate=estimate,
        shares=len(shares.doc),
        pairs=len(pairs),
        threshold=threshold,
        edges=tuple(edges),
        components=components,
        communities=communities,
        posts=read,
        skipped=skipped,
    )


def _networks(
    edges: Sequence[Edge],
    info: dict[str, tuple[str | None, int]],
    seed: int,
    resolution: float,
) -> tuple[tuple[Network, ...], tuple[Network, ...]]:
    graph = nx.Graph()
    for e in edges:
        graph.add_edge(e.a, e.b, weight=e.weight, edge=e)
    components = [sorted(c) for c in nx.connected_components(graph)]
    communities = [
        sorted(c)
        for c in nx.community.louvain_communities(
            graph, weight="weight", resolution=resolution, seed=seed
        )
    ]

    def network(kind: str, accounts: list[str]) -> Network:
        sub = graph.subgraph(accounts)
        inner: list[Edge] = sorted(
            (data["edge"] for _, _, data in sub.edges(data=True)), key=lambda e: (e.a, e.b)
        )
        urls: Counter[str] = Counter()
        texts: Counter[str] = Counter()
        posts_of: dict[str, set[str]] = {a: set() for a in accounts}
        times: list[float] = []
        for e in inner:
            for c in e.evidence:
                (texts if c.kind == "text" else urls)[c.item] += 1
                posts_of[e.a].add(c.post_a)
                posts_of[e.b].add(c.post_b)
                times += (c.time_a, c.time_b)
        members = tuple(
            Member(
                account=a,
                name=info[a][0],
                posts=info[a][1],
                coordinated_posts=len(posts_of[a]),
                degree=sub.degree(a),
                strength=sub.degree(a, weight="weight"),
            )
            for a in accounts
        )
        return Network(
            id=f"{kind}-{_digest(' '.join(accounts))}",
            kind=kind,
            members=members,
            urls=tuple(u for u, _ in urls.most_common()),
            texts=tuple(t for t, _ in texts.most_common()),
            edges=tuple(inner),
            first_seen=min(times, default=0.0),
            last_seen=max(times, default=0.0),
        )

    def ordered(groups: list[list[str]], kind: str) -> tuple[Network, ...]:
        return tuple(network(kind, g) for g in sorted(groups, key=lambda g: (-len(g), g[0])))

    return ordered(components, "component"), ordered(communities, "community")
