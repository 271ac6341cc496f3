"""What an export writes: the entries chosen from the active indicators, and the counts.

Every export works the same way. :func:`select` takes the compiled indicators the requester
may see and a format's *takes* (which key kinds the format can express, and how it renders
each value), and gives a :class:`Selection`: the entries sorted by key then indicator id,
so two runs over the same store give the same bytes, and an :class:`ExportReport` whose
counts add up. Only *simple* indicators become blocklist entries: a key of a complex
pattern only selects candidates, so writing it to a sensor would block more than the
indicator says. Every indicator left out is counted with its reason, and so is every key a
format drops from an indicator it does include. An indicator held out by a warning list
(:mod:`mburoja.lifecycle.warninglists`) never reaches the writers; the options count it
under ``warning list <name>``, and every report lists it among the left out. So does an
indicator whose decay score fell to its model's threshold (:mod:`mburoja.lifecycle.decay`),
under ``decayed below threshold <n> (model <name>)``.

The export's TLP level is the strictest level among the indicators included (an indicator
without a TLP marking counts as the policy's default level), computed by the policy layer.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Final

import msgspec

from mburoja import __version__
from mburoja.detect.compile import Compiled
from mburoja.policy import Policy
from mburoja.stix.markings import TLP_ORDER

#: The reason every complex indicator is left out of a blocklist.
COMPLEX: Final = "complex pattern (a blocklist cannot express it)"
#: Plural labels of key kinds, for summaries.
KIND_LABELS: Final[dict[str, str]] = {
    "domain": "domains",
    "ip": "addresses",
    "net": "networks",
    "url": "URLs",
    "email": "e-mail addresses",
    "endpoint": "endpoints",
    "indicator": "indicator objects",
}
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


class Refused(msgspec.Struct, frozen=True):
    """A value a format cannot express, and why."""

    reason: str


#: How a format renders one key value: the text it writes, or why it cannot.
Render = Callable[[str], "str | Refused"]


class ExportOptions(msgspec.Struct, frozen=True, kw_only=True):
    """What every export needs besides the indicators.

    ``generated`` is the export's time as a STIX timestamp (a parameter, so that a test can
    fix it); ``requester`` names the organisation the policy was applied for;
    ``default_tlp`` and ``neutral`` are the policy's settings, which decide the level of an
    indicator without TLP; ``not_compiled`` counts, by reason, the visible active indicators
    that could not be compiled, so that the report accounts for them too; ``warning_listed``
    counts, by reason (``warning list <name>``), the visible active indicators held out
    because a key hit a warning list; ``decayed`` counts, by reason, those left out because
    their decay score is at or under their model's threshold.
    """

    generated: str
    requester: str = "home"
    default_tlp: str = "amber+strict"
    neutral: frozenset[str] = frozenset()
    not_compiled: Mapping[str, int] = msgspec.field(default_factory=dict)
    warning_listed: Mapping[str, int] = msgspec.field(default_factory=dict)
    decayed: Mapping[str, int] = msgspec.field(default_factory=dict)


class ExportReport(msgspec.Struct, kw_only=True):
    """What an export wrote and what it left out.

    ``entries``: values written, by key kind (a value that several indicators share is one
    entry in a set-like format and one line each in a listing format). ``included``: the
    ``indicators`` included, by what they are, where a format includes more than one sort
    (the STIX bundle). ``skipped``: indicators that gave no entry, by reason. ``dropped``:
    keys left out of indicators that were included (the other keys of a simple indicator
    still match on their own), by reason. ``notes``: what the format's header says about
    its coverage. ``indicators`` plus the ``skipped`` counts are every active indicator the
    requester may see.
    """

    format: str
    generated: str
    requester: str
    tlp: str = "clear"
    indicators: int = 0
    entries: dict[str, int] = msgspec.field(default_factory=dict)
    included: dict[str, int] = msgspec.field(default_factory=dict)
    skipped: dict[str, int] = msgspec.field(default_factory=dict)
    dropped: dict[str, int] = msgspec.field(default_factory=dict)
    notes: list[str] = msgspec.field(default_factory=list)
    files: list[str] = msgspec.field(default_factory=list)

    @property
    def total_entries(self) -> int:
        return sum(self.entries.values())

    def summary(self) -> str:
        """One line for the terminal, e.g. ``zeek: 1,234 entries from 1,200 indicators
        (domains 800, addresses 434) · TLP:AMBER · 3 complex skipped``."""
        kinds = ", ".join(
            f"{KIND_LABELS.get(kind, kind)} {count:,}" for kind, count in self.entries.items()
        )
        line = (
            f"{self.format}: {self.total_entries:,} entries from {self.indicators:,} "
            f"indicators" + (f" ({kinds})" if kinds else "") + f" · {tlp_label(self.tlp)}"
        )
        complex_count = self.skipped.get(COMPLEX, 0)
        if complex_count:
            line += f" · {complex_count:,} complex skipped"
        other = sum(self.skipped.values()) - complex_count
        if other:
            line += f" · {other:,} skipped for other reasons"
        dropped = sum(self.dropped.values())
        if dropped:
            line += f" · {dropped:,} keys dropped"
        return line

    def details(self) -> list[str]:
        """Lines for the terminal below :meth:`summary`: what was included, every reason an
        indicator was left out or a key dropped, with its count."""
        lines = [f"included: {n:,} {what}" for what, n in self.included.items()]
        lines += [f"left out: {n:,} {reason}" for reason, n in self.skipped.items()]
        if not self.skipped:
            lines.append("left out: none")
        lines += [f"key dropped: {n:,} {reason}" for reason, n in self.dropped.items()]
        return lines


class Entry(msgspec.Struct, frozen=True, order=True, array_like=True):
    """One value to write: its key kind, the value as the format writes it, and the
    indicator it comes from."""

    kind: str
    value: str
    indicator_id: str


class Selection(msgspec.Struct, kw_only=True):
    """The entries of one export, sorted, with the indicators they come from."""

    entries: list[Entry]
    indicators: dict[str, Compiled]
    report: ExportReport

    def values(self, *kinds: str) -> list[str]:
        """The distinct values of the given kinds, sorted."""
        return sorted({e.value for e in self.entries if e.kind in kinds})

    def count_distinct(self) -> dict[str, int]:
        """Distinct values per kind, in kind order (what a set-like format writes)."""
        found: dict[str, set[str]] = {}
        for e in self.entries:
            found.setdefault(e.kind, set()).add(e.value)
        return {kind: len(values) for kind, values in sorted(found.items())}

    def count_lines(self) -> dict[str, int]:
        """Entries per kind, in kind order (what a listing format writes: one per line)."""
        return dict(sorted(Counter(e.kind for e in self.entries).items()))


def policy_for(options: ExportOptions) -> Policy:
    """The policy that tells an indicator's level (the home organisation plays no part)."""
    return Policy("-", default_level=options.default_tlp, neutral=options.neutral)


def tlp_label(level: str) -> str:
    return "TLP:" + level.upper()


def select(
    indicators: Iterable[Compiled],
    fmt: str,
    takes: Mapping[str, Render],
    options: ExportOptions,
    *,
    simple_only: bool = True,
) -> Selection:
    """The entries ``fmt`` writes for ``indicators`` (see the module doc)."""
    policy = policy_for(options)
    report = ExportReport(format=fmt, generated=options.generated, requester=options.requester)
    skipped: Counter[str] = Counter(
        {f"not compiled: {reason}": n for reason, n in options.not_compiled.items()}
    )
    skipped.update(options.warning_listed)
    skipped.update(options.decayed)
    dropped: Counter[str] = Counter()
    entries: set[Entry] = set()
    included: dict[str, Compiled] = {}
    rank = -1
    for indicator in indicators:
        if simple_only and not indicator.simple:
            skipped[COMPLEX] += 1
            continue
        rendered, refusals = render_keys(indicator, takes, fmt)
        got = [Entry(kind, value, indicator.id) for kind, value in rendered]
        if not got:
            skipped[min(refusals) if refusals else "no key"] += 1
            continue
        entries.update(got)
        dropped.update(refusals)
        included[indicator.id] = indicator
        rank = max(rank, TLP_ORDER.index(policy.level(indicator.markings)))
    report.indicators = len(included)
    report.tlp = TLP_ORDER[rank] if rank >= 0 else "clear"
    report.skipped = dict(sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0])))
    report.dropped = dict(sorted(dropped.items(), key=lambda kv: (-kv[1], kv[0])))
    return Selection(entries=sorted(entries), indicators=included, report=report)


def render_keys(
    indicator: Compiled, takes: Mapping[str, Render], fmt: str
) -> tuple[list[tuple[str, str]], list[str]]:
    """The (kind, rendered value) of each key of ``indicator`` that format ``fmt`` takes,
    and why each other key is refused."""
    rendered: list[tuple[str, str]] = []
    refusals: list[str] = []
    for key in indicator.keys:
        render = takes.get(key.kind)
        if render is None:
            refusals.append(f"{key.kind}: not taken by {fmt}")
            continue
        value = render(key.value)
        if isinstance(value, Refused):
            refusals.append(f"{key.kind}: {value.reason}")
        else:
            rendered.append((key.kind, value))
    return rendered, refusals


def indicator_level(options: ExportOptions) -> Callable[[Compiled], str]:
    """A function giving one indicator's effective TLP level under ``options``' policy."""
    policy = policy_for(options)
    return lambda indicator: policy.level(indicator.markings)


def one_line(text: str) -> str:
    """``text`` with control characters (newlines, tabs) replaced, for a header comment."""
    return _CONTROL.sub(" ", text)


def header(report: ExportReport, notes: Iterable[str] = (), prefix: str = "#") -> str:
    """The comment block every export file starts with: generator, time, TLP, requester,
    counts and what the format does not cover."""
    level = tlp_label(report.tlp)
    entries = ", ".join(f"{kind} {count:,}" for kind, count in report.entries.items())
    lines = [
        f"generator: mburoja {__version__} (export {report.format})",
        f"generated: {report.generated}",
        f"requester: {report.requester}",
        f"tlp: {level} (the strictest level among the indicators included; "
        "share this file no further than it allows)",
        f"indicators: {report.indicators:,} included; entries: {entries or 'none'}",
    ]
    lines += [f"included: {n:,} {what}" for what, n in report.included.items()]
    lines += [f"skipped: {n:,} {reason}" for reason, n in report.skipped.items()]
    lines += [f"dropped key: {n:,} {reason}" for reason, n in report.dropped.items()]
    lines += [f"note: {note}" for note in (*report.notes, *notes)]
    return "".join(f"{prefix} {one_line(line)}\n" for line in lines)


# -- values a format may refuse ------------------------------------------------------------

#: The widest networks a blocking format accepts: a wider one would block a large part of
#: the Internet on one indicator's word.
MIN_PREFIX: Final = {4: 8, 6: 16}


def network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | Refused:
    """An ``ip`` or ``net`` key value as a network (an address is a /32 or /128)."""
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return Refused("not an IP address or network")
    if net.prefixlen < MIN_PREFIX[net.version]:
        return Refused(
            f"IPv{net.version} network wider than /{MIN_PREFIX[net.version]} refused as too "
            "broad to block"
        )
    return net
