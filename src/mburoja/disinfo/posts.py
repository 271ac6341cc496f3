"""Generated post timelines with planted coordinated sharing, for tests and the benchmark.

Deterministic for a given :class:`PostSpec` (``seed`` included). What is in a timeline:

- **Organic accounts** with heavy-tailed activity share *stories*:
  - long-tail stories, shared by one to six accounts hours apart;
  - popular stories, shared by 20 to 80 independent accounts over hours;
  - breaking stories (``breaking_per_day``), shared by 20 to 40 accounts within minutes:
    here organic accounts co-share quickly by chance;
  - plus posts with text and no link.
- **Link groups** (``groups``): each pushes ``campaign_urls`` URLs. For each URL, at a random
  time, each member joins with probability ``participation`` and posts it within ``spread``
  seconds of the burst's start. Some campaign URLs are later shared organically too. Members
  also post organically like anyone else.
- **Text groups** (``text_groups``): the same, with a copy-pasted message (case, punctuation
  and a tracking link vary) and no URL in ``urls``.

Links are written the way platforms hand them out: tracking parameters (``utm_*``,
``fbclid``), upper-case hosts, fragments; the truth is about the normalised link.
"""

from __future__ import annotations

import random
import uuid
from itertools import accumulate
from typing import Final

import msgspec

from mburoja.disinfo.model import POST, Document

#: 2023-11-14T22:13:20Z: every timeline starts here
EPOCH: Final = 1_700_000_000.0
_OUTLETS: Final = (
    "vesti-danas.rs", "portal-sever.mk", "lajme-sot.al", "novini-dnes.bg", "zhurnal.ru",
    "dnevni-list.ba", "daily-wire.example", "balkan-times.example", "info-jug.rs",
)  # fmt: skip
_SECTIONS: Final = ("politika", "svet", "ekonomija", "sport", "drustvo", "kultura")


class PostSpec(msgspec.Struct, frozen=True, kw_only=True):
    #: about how many posts in all
    posts: int = 40_000
    seed: int = 6
    days: float = 3.0
    #: link-sharing coordinated groups, and their size range
    groups: int = 6
    group_size: tuple[int, int] = (6, 14)
    #: URLs each group pushes (one burst each)
    campaign_urls: int = 50
    #: the chance a member joins a burst
    participation: float = 0.8
    #: members post within this many seconds of the burst's start
    spread: float = 20.0
    #: groups that copy-paste a message instead of a link, and their bursts
    text_groups: int = 1
    text_bursts: int = 50
    #: organic link shares that go to popular stories
    popular_fraction: float = 0.3
    breaking_per_day: int = 30
    #: organic posts per organic account, on average
    posts_per_account: float = 25.0


class PostCorpus(msgspec.Struct, frozen=True, kw_only=True):
    spec: PostSpec
    #: sorted by time
    posts: list[Document]
    link_groups: tuple[tuple[str, ...], ...]
    text_groups: tuple[tuple[str, ...], ...]

    @property
    def link_coordinated(self) -> frozenset[str]:
        return frozenset(a for g in self.link_groups for a in g)

    @property
    def text_coordinated(self) -> frozenset[str]:
        return frozenset(a for g in self.text_groups for a in g)

    @property
    def coordinated(self) -> frozenset[str]:
        return self.link_coordinated | self.text_coordinated


class _Builder:
    def __init__(self, spec: PostSpec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.span = spec.days * 86_400.0
        syllables = ("ka", "ro", "vi", "sta", "ne", "li", "mo", "dra", "pe", "zu", "ja", "tor")
        self.words = sorted(
            {
                "".join(self.rng.choice(syllables) for _ in range(self.rng.randint(1, 4)))
                for _ in range(600)
            }
        )
        self.posts: list[Document] = []
        self.names: dict[str, str] = {}
        self.stories = 0

    def sentence(self, lo: int, hi: int) -> str:
        words = self.rng.choices(self.words, k=self.rng.randint(lo, hi))
        return " ".join(words).capitalize() + "."

    def post(self, account: str, t: float, text: str, urls: tuple[str, ...] = ()) -> None:
        self.posts.append(
            Document(
                # the id form of mburoja.disinfo.objects' post SCOs
                id=f"mburoja-post--{uuid.UUID(int=self.rng.getrandbits(128), version=4)}",
                kind=POST,
                source=account,
                source_name=self.names[account],
                text=text,
                published=round(t, 3),
                urls=urls,
            )
        )

    def story_url(self, domain: str | None = None) -> str:
        self.stories += 1
        domain = domain or self.rng.choice(_OUTLETS)
        section = self.rng.choice(_SECTIONS)
        return f"https://{domain}/{section}/{self.stories}-{self.rng.choice(self.words)}"

    def spelled(self, url: str) -> str:
        """The link as one share writes it: same page, different spelling."""
        r = self.rng.random()
        if r < 0.25:
            src = self.rng.choice(("facebook", "twitter", "telegram"))
            return f"{url}?utm_source={src}&utm_medium=social"
        if r < 0.35:
            return f"{url}?fbclid=IwAR{self.rng.getrandbits(40):x}"
        if r < 0.45:
            scheme, rest = url.split("://", 1)
            host, path = rest.split("/", 1)
            return f"{scheme.upper()}://{host.upper()}/{path}"
        if r < 0.5:
            return f"{url}#comments"
        return url


def spec_for(posts: int, seed: int = 6) -> PostSpec:
    """The default timeline's proportions at another size: groups and breaking stories grow
    with the posts, so the share of chance co-shares stays the same (the benchmark runs
    200,000 posts)."""
    base = PostSpec()
    scale = posts / base.posts
    return PostSpec(
        posts=posts,
        seed=seed,
        groups=max(1, round(base.groups * scale)),
        text_groups=max(1, round(base.text_groups * scale)),
        breaking_per_day=max(1, round(base.breaking_per_day * scale)),
    )


def generate_posts(spec: PostSpec | None = None) -> PostCorpus:
    """A timeline per ``spec`` (defaults: about 40,000 posts, five link groups, one text
    group)."""
    spec = spec or PostSpec()
    b = _Builder(spec)
    rng = b.rng

    link_groups: list[tuple[str, ...]] = []
    text_groups: list[tuple[str, ...]] = []
    for g in range(spec.groups + spec.text_groups):
        size = rng.randint(*spec.group_size)
        kind = "lg" if g < spec.groups else "tg"
        members = tuple(f"acct-{kind}{g:03d}-{m:02d}" for m in range(size))
        for m, a in enumerate(members):
            b.names[a] = f"Glas Naroda {g}.{m}"
        (link_groups if g < spec.groups else text_groups).append(members)
    planted = [a for grp in (*link_groups, *text_groups) for a in grp]

    coordinated_posts = spec.campaign_urls * spec.participation * sum(map(len, link_groups))
    coordinated_posts += spec.text_bursts * spec.participation * sum(map(len, text_groups))
    organic_posts = max(1_000, int(spec.posts - coordinated_posts))
    n_organic = max(50, int(organic_posts / spec.posts_per_account))
    organic = [f"acct-o{i:06d}" for i in range(n_organic)]
    for i, a in enumerate(organic):
        b.names[a] = f"User {i}"
    # group members post organically too, at a typical activity
    pool = organic + planted
    activity = [rng.lognormvariate(0.0, 1.0) for _ in organic] + [1.0] * len(planted)
    cum = list(accumulate(activity))

    def sharers(k: int) -> list[str]:
        return rng.choices(pool, cum_weights=cum, k=k)

    def organic_shares(url: str, start: float, offsets: list[float]) -> None:
        for a, off in zip(sharers(len(offsets)), offsets, strict=True):
            b.post(a, start + off, b.sentence(4, 14), (b.spelled(url),))

    # organic: a fifth text only, the rest links to stories
    text_only = organic_posts // 5
    for a in sharers(text_only):
        b.post(a, rng.uniform(0, b.span), b.sentence(5, 20))
    link_budget = organic_posts - text_only
    for _ in range(int(spec.breaking_per_day * spec.days)):
        n = rng.randint(20, 40)
        organic_shares(
            b.story_url(), rng.uniform(0, b.span), [rng.expovariate(1 / 300) for _ in range(n)]
        )
        link_budget -= n
    popular = int(link_budget * spec.popular_fraction)
    while popular > 0:
        n = min(popular, rng.randint(20, 80))
        start = rng.uniform(0, b.span)
        organic_shares(b.story_url(), start, [rng.expovariate(1 / 7_200) for _ in range(n)])
        popular -= n
        link_budget -= n
    while link_budget > 0:
        n = min(link_budget, rng.choices((1, 2, 3, 4, 5, 6), (70, 16, 6, 4, 2, 2))[0])
        start = rng.uniform(0, b.span)
        organic_shares(
            b.story_url(), start, [0.0] + [rng.expovariate(1 / 14_400) for _ in range(n - 1)]
        )
        link_budget -= n

    def burst(members: tuple[str, ...]) -> tuple[float, list[str]]:
        joined = [a for a in members if rng.random() < spec.participation]
        while len(joined) < 2:
            extra = rng.choice(members)
            if extra not in joined:
                joined.append(extra)
        return rng.uniform(0, b.span - 86_400 / 4), joined

    for g, members in enumerate(link_groups):
        domain = f"istina-{g}.example"
        for _ in range(spec.campaign_urls):
            url = b.story_url(domain)
            start, joined = burst(members)
            for a in joined:
                b.post(a, start + rng.uniform(0, spec.spread), b.sentence(3, 10), (b.spelled(url),))
            if rng.random() < 0.3:  # the story also reaches ordinary users, later
                later = [1_800 + rng.expovariate(1 / 7_200) for _ in range(rng.randint(1, 4))]
                organic_shares(url, start, later)
    for members in text_groups:
        for _ in range(spec.text_bursts):
            message = b.sentence(10, 18)
            start, joined = burst(members)
            for a in joined:
                text = message.upper() if rng.random() < 0.2 else message
                text += rng.choice(("", "!!", "!!!", "  ", " ..."))
                if rng.random() < 0.3:
                    text += f" https://t.example/{rng.getrandbits(32):x}"
                b.post(a, start + rng.uniform(0, spec.spread), text)

    b.posts.sort(key=lambda d: (d.published or 0.0, d.id))
    return PostCorpus(
        spec=spec, posts=b.posts, link_groups=tuple(link_groups), text_groups=tuple(text_groups)
    )
