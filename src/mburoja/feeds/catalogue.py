"""The feed catalogue: which feeds exist, where they are, how to read them, as data.

A catalogue is a TOML file with one ``[[feed]]`` table per feed (see the shipped
``catalogue.toml``). Each table decodes into a ``FeedSpec``; unknown keys are refused, so a
misspelt option is an error rather than a silently ignored setting. Loading checks what the
types cannot: the format is one Mburoja reads, the schedule is an interval no shorter than a
minute (a feed is never hammered), the TLP level exists, confidence is 0..100, the URL is
http(s), and the options the format needs are there.

Every error names the file, the feed and the field, e.g.
``my-feeds.toml: feed 'vendor-x': schedule: '5x' is not an interval (use e.g. 15m, 1h, 1d)``;
all problems of a file are reported together, each on its own line.

The shipped catalogue has every entry disabled: turning a feed on is a decision an operator
takes after reading its licence note. A user catalogue has the same shape; ``merged`` lets
its entries replace shipped ones of the same name (to enable one, or change its TLP).
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import msgspec

from mburoja.errors import ConfigError
from mburoja.stix import markings

#: Indicator kinds a feed can yield (the kinds of ``stix.refang.detect``).
INDICATOR_KINDS: Final = frozenset(
    {
        "ipv4",
        "ipv4-net",
        "ipv6",
        "ipv6-net",
        "domain",
        "url",
        "email",
        "asn",
        "md5",
        "sha1",
        "sha256",
        "sha512",
    }
)
#: Shortest schedule accepted: a feed is polled at most once a minute.
MIN_INTERVAL_S: Final = 60
SHIPPED: Final = "catalogue.toml"

_NAME: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_INTERVAL: Final = re.compile(r"(?:\d+[smhdw])+")
_INTERVAL_PART: Final = re.compile(r"(\d+)([smhdw])")
_UNIT_S: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_ENV_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_COLLECTION_URL: Final = re.compile(r"(?P<root>.+/)collections/(?P<id>[^/?#]+)/?")
AUTH_KINDS: Final = ("none", "bearer", "basic")
#: Formats fetched in several requests, incrementally: a run does not see the whole list.
_INCREMENTAL: Final = frozenset({"misp-feed", "taxii"})


class FormatOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How to read one feed's document; which keys matter depends on the format.

    Columns are 0-based indexes or header names. ``comment_prefixes`` start lines that are
    skipped; ``tags_separator`` splits a tags cell into labels.
    """

    column: int | str | None = None  # the cell holding the indicator value
    first_seen_column: int | str | None = None  # becomes the indicator's valid_from
    tags_column: int | str | None = None  # becomes labels
    confidence_column: int | str | None = None  # 0..100 per row, else the feed's
    delimiter: str = ","
    comment_prefixes: tuple[str, ...] = ("#",)
    header: bool = False  # the first non-comment row names the columns
    tags_separator: str = ","
    # taxii: credentials never sit in a catalogue; ``auth_env`` names the environment
    # variable holding the bearer token ("bearer") or "user:password" ("basic").
    auth: str = "none"  # none, bearer or basic
    auth_env: str | None = None
    page_limit: int = 1000  # objects asked for per TAXII page


class FeedSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One feed of the catalogue (see the module docstring)."""

    name: str  # unique, lower case: "urlhaus-recent"
    provider: str
    url: str
    format: str  # a key of ``feeds.formats.FORMATS`` or ``feeds.formats.ROUTED``
    schedule: str  # an interval: "15m", "1h", "1d", "1h30m"
    tlp: str = "clear"
    confidence: int = 50
    licence: str = ""
    yields: tuple[str, ...] = ()
    enabled: bool = False
    full_snapshot: bool = False  # each download is the whole list (missing = withdrawn)
    missing_runs: int = 3  # good runs in a row a full-snapshot value may be missing
    #: list formats: also store each value's SCO and a ``based-on`` from the indicator
    #: (off: the indicator's pattern holds the value; three times fewer objects to store)
    observables: bool = False
    labels: tuple[str, ...] = ()
    description: str = ""
    options: FormatOptions = FormatOptions()

    @property
    def interval_s(self) -> int:
        """The schedule in seconds."""
        return interval_seconds(self.schedule)


def interval_seconds(text: str) -> int:
    """Seconds in an interval such as ``15m``, ``1h``, ``1d``, ``2w`` or ``1h30m``.

    Raises ``ValueError`` with the reason for anything else."""
    compact = text.strip().lower()
    if not _INTERVAL.fullmatch(compact):
        raise ValueError(f"{text!r} is not an interval (use e.g. 15m, 1h, 1d)")
    return sum(int(n) * _UNIT_S[unit] for n, unit in _INTERVAL_PART.findall(compact))


def taxii_collection(url: str) -> tuple[str, str] | None:
    """(API root URL, collection id) of a TAXII collection URL
    ``<api root>collections/<id>/``, or None when ``url`` is not one."""
    match = _COLLECTION_URL.fullmatch(url)
    if match is None:
        return None
    return match["root"], match["id"]


def _known_formats() -> frozenset[str]:
    from mburoja.feeds.formats import known_formats  # the registry imports FeedSpec

    return known_formats()


def _problems(spec: FeedSpec) -> list[tuple[str, str]]:
    """(field, reason) for every rule ``spec`` breaks."""
    found: list[tuple[str, str]] = []
    if not _NAME.fullmatch(spec.name):
        found.append(("name", "use 1 to 64 of a-z, 0-9, '.', '_', '-', starting a-z or 0-9"))
    formats = _known_formats()
    if spec.format not in formats:
        found.append(
            ("format", f"unknown format {spec.format!r}; use one of {', '.join(sorted(formats))}")
        )
    try:
        if interval_seconds(spec.schedule) < MIN_INTERVAL_S:
            found.append(("schedule", f"{spec.schedule!r} is shorter than the minimum of 1m"))
    except ValueError as exc:
        found.append(("schedule", str(exc)))
    try:
        markings.tlp_marking_id(spec.tlp)
    except KeyError:
        found.append(
            ("tlp", f"unknown TLP level {spec.tlp!r}; use one of {', '.join(markings.TLP2)}")
        )
    if not 0 <= spec.confidence <= 100:
        found.append(("confidence", f"{spec.confidence} is outside 0..100"))
    parts = urlsplit(spec.url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        found.append(("url", f"{spec.url!r} is not an http(s) URL"))
    for kind in spec.yields:
        if kind not in INDICATOR_KINDS:
            shown = ", ".join(sorted(INDICATOR_KINDS))
            found.append(("yields", f"unknown indicator kind {kind!r}; use any of {shown}"))
    opts = spec.options
    if len(opts.delimiter) != 1:
        found.append(("options.delimiter", f"must be one character, got {opts.delimiter!r}"))
    if spec.format == "csv" and opts.column is None:
        found.append(("options.column", "the csv format needs the column of the value"))
    if any(not prefix for prefix in opts.comment_prefixes):
        found.append(("options.comment_prefixes", "an empty prefix would skip every line"))
    if spec.missing_runs < 1:
        found.append(("missing_runs", f"{spec.missing_runs} is below 1"))
    if spec.full_snapshot and spec.format in _INCREMENTAL:
        found.append(
            (
                "full_snapshot",
                f"a {spec.format} feed is read incrementally, never whole; "
                "set full_snapshot = false",
            )
        )
    found.extend(_taxii_problems(spec))
    return found


def _taxii_problems(spec: FeedSpec) -> list[tuple[str, str]]:
    """(field, reason) for the TAXII options and URL of ``spec``."""
    found: list[tuple[str, str]] = []
    opts = spec.options
    if opts.auth not in AUTH_KINDS:
        found.append(("options.auth", f"{opts.auth!r}: use one of {', '.join(AUTH_KINDS)}"))
    if opts.auth_env is not None and not _ENV_NAME.fullmatch(opts.auth_env):
        found.append(("options.auth_env", f"{opts.auth_env!r} is not an environment variable name"))
    if opts.auth in ("bearer", "basic") and opts.auth_env is None:
        found.append(
            (
                "options.auth_env",
                f"auth {opts.auth!r} needs the name of the environment "
                'variable holding the secret, e.g. auth_env = "MBUROJA_FEED_X_TOKEN"',
            )
        )
    if opts.page_limit < 1:
        found.append(("options.page_limit", f"{opts.page_limit} is below 1"))
    if spec.format == "taxii" and taxii_collection(spec.url) is None:
        found.append(
            (
                "url",
                f"{spec.url!r} is not a TAXII collection URL; give "
                "<api root>collections/<collection id>/",
            )
        )
    return found


def _decoded(entry: Any, where: str, position: int) -> FeedSpec:
    label = entry.get("name") if isinstance(entry, dict) else None
    feed = f"feed {label!r}" if isinstance(label, str) else f"feed #{position}"
    try:
        spec = msgspec.convert(entry, FeedSpec)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{where}: {feed}: {_field_message(exc)}") from None
    problems = _problems(spec)
    if problems:
        lines = [f"{where}: {feed}: {field}: {reason}" for field, reason in problems]
        raise ConfigError("\n".join(lines))
    return spec


def _field_message(exc: msgspec.ValidationError) -> str:
    """msgspec's "Expected `int`, got `str` - at `$.confidence`" as "confidence: ..."."""
    text = str(exc)
    reason, sep, path = text.rpartition(" - at `$.")
    if sep:
        return f"{path.rstrip('`')}: {reason}"
    return text


def parse(text: str, where: str) -> tuple[FeedSpec, ...]:
    """The feeds of one catalogue's TOML text; ``where`` names it in errors.

    Raises ``ConfigError`` listing every problem (bad TOML, a bad entry, a duplicate name).
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    unknown = sorted(set(document) - {"feed"})
    if unknown:
        raise ConfigError(f"{where}: unknown top-level key {unknown[0]!r}; use [[feed]] tables")
    entries = document.get("feed", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{where}: 'feed' must be an array of tables ([[feed]])")
    specs: list[FeedSpec] = []
    errors: list[str] = []
    seen: set[str] = set()
    for position, entry in enumerate(entries, start=1):
        try:
            spec = _decoded(entry, where, position)
        except ConfigError as exc:
            errors.append(str(exc))
            continue
        if spec.name in seen:
            errors.append(f"{where}: feed {spec.name!r}: name: defined twice")
            continue
        seen.add(spec.name)
        specs.append(spec)
    if errors:
        raise ConfigError("\n".join(errors))
    return tuple(specs)


def load(path: Path) -> tuple[FeedSpec, ...]:
    """The feeds of a user-supplied catalogue file (see ``parse``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the feed catalogue: {exc}") from None
    return parse(text, str(path))


def shipped() -> tuple[FeedSpec, ...]:
    """The catalogue shipped with Mburoja (every entry disabled)."""
    text = resources.files("mburoja.feeds").joinpath(SHIPPED).read_text(encoding="utf-8")
    return parse(text, SHIPPED)


def merged(base: tuple[FeedSpec, ...], override: tuple[FeedSpec, ...]) -> tuple[FeedSpec, ...]:
    """``base`` with each feed of ``override`` replacing the one of the same name, or added."""
    by_name = {spec.name: spec for spec in base}
    by_name.update((spec.name, spec) for spec in override)
    return tuple(by_name.values())
