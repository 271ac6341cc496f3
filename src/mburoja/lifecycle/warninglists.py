"""Warning lists: known-benign values kept out of detection and exports.

A feed that lists ``8.8.8.8`` or ``google.com`` as malicious would make every sensor alert
on ordinary traffic, or block it. Like MISP's warninglists, a warning list names such
values; an indicator whose match keys hit one is *held out*: it stays in the store and in
search, but the active index (:mod:`mburoja.detect.index`) and every sensor export leave
it out, with the reason ``warning list <name>``.

A list has a name, a type and values:

* ``cidr``: addresses and networks. An ``ip`` key matches when the address lies in a
  listed network; a ``net`` key only when the whole network lies inside one (a /16 that
  merely overlaps a listed /24 is not benign as a whole, so it stays active).
* ``hostname``: domains. A ``domain`` key matches the listed domain and every subdomain
  of it (``login.microsoft.com`` under ``microsoft.com``).
* ``string``: exact values, compared with any key's value.
* ``substring``: the key's value contains the listed text (linear in the list's length:
  keep such lists short).

URL and e-mail keys are checked only by ``string`` and ``substring`` lists: a path on a
big service or an account at a mail provider can well be the attacker's. An ``endpoint``
key (``address|port``) is checked by its address.

An indicator is held out when *any* of its keys matches: a pattern that names a benign
value is suspect as a whole, and removing one key from a pattern that joins comparisons
would change what it matches. The analyst fixes the indicator; the report says why.

Lists come from files (see :func:`read_list`): our text format, MISP warninglist JSON,
or the address ranges cloud and CDN providers publish as JSON (AWS ``ip-ranges.json``,
Google ``goog.json``/``cloud.json``, Azure service tags), downloaded by the operator. The
shipped defaults live in ``mburoja/lifecycle/lists``; ``documentation`` (the RFC 5737/3849
ranges) is off by default because examples and tests use those ranges as stand-ins for
malicious addresses.

Matching is built for a million keys at index build: networks are kept per IP version
and prefix length as sets of integers (at most 33 or 129 set lookups per address,
usually a handful), domains as a set looked up once per label suffix.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import msgspec
import orjson

from mburoja.errors import ConfigError

if TYPE_CHECKING:
    from mburoja.config import WarninglistSettings
    from mburoja.detect.compile import Compiled, Key

TYPES: Final = ("cidr", "hostname", "string", "substring")
#: The reason an export report and the index give for a held-out indicator.
REASON_PREFIX: Final = "warning list "
_HEADERS: Final = ("name", "type", "description", "default")
_BITS: Final = {4: 32, 6: 128}


class WarningList(msgspec.Struct, frozen=True, kw_only=True):
    """One list as read from its file."""

    name: str
    type: str
    values: tuple[str, ...]
    description: str = ""
    source: str = ""
    #: False for a shipped list that is off unless ``warninglists.enabled_lists`` names it
    default_on: bool = True


class Hit(msgspec.Struct, frozen=True):
    """Which list a value matched, and the listed entry it matched."""

    list: str
    entry: str

    @property
    def reason(self) -> str:
        return REASON_PREFIX + self.list


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


class WarningLists:
    """Several lists compiled for fast lookup. The first list (in the given order) that
    holds a value names the hit."""

    def __init__(self, lists: Iterable[WarningList]) -> None:
        self.lists: tuple[WarningList, ...] = tuple(lists)
        # version -> prefix length -> network address as int -> (list, entry)
        self._nets: dict[int, dict[int, dict[int, Hit]]] = {4: {}, 6: {}}
        self._domains: dict[str, Hit] = {}
        self._strings: dict[str, Hit] = {}
        self._substrings: list[tuple[str, Hit]] = []
        for wl in self.lists:
            for value in wl.values:
                self._add(wl, value)
        self._lengths = {v: sorted(by_len) for v, by_len in self._nets.items()}

    def _add(self, wl: WarningList, value: str) -> None:
        hit = Hit(wl.name, value)
        if wl.type == "cidr":
            net = _network(value)
            if net is None:  # read_list refuses these; a list built in code may not
                raise ConfigError(f"warning list {wl.name}: {value!r} is not an IP network")
            by_len = self._nets[net.version].setdefault(net.prefixlen, {})
            by_len.setdefault(int(net.network_address), hit)
        elif wl.type == "hostname":
            self._domains.setdefault(_domain(value), hit)
        elif wl.type == "string":
            self._strings.setdefault(value.strip().lower(), hit)
        else:
            self._substrings.append((value.strip().lower(), hit))

    def __bool__(self) -> bool:
        return bool(self.lists)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(wl.name for wl in self.lists)

    def network(self, text: str) -> Hit | None:
        """The hit for an address or network that lies wholly inside a listed network."""
        net = _network(text)
        if net is None:
            return None
        bits = _BITS[net.version]
        address = int(net.network_address)
        by_len = self._nets[net.version]
        for length in self._lengths[net.version]:
            if length > net.prefixlen:
                break
            mask = ((1 << length) - 1) << (bits - length)
            hit = by_len[length].get(address & mask)
            if hit is not None:
                return hit
        return None

    def domain(self, name: str) -> Hit | None:
        """The hit for a domain that is a listed domain or a subdomain of one."""
        if not self._domains:
            return None
        labels = _domain(name).split(".")
        for i in range(len(labels)):
            hit = self._domains.get(".".join(labels[i:]))
            if hit is not None:
                return hit
        return None

    def text(self, value: str) -> Hit | None:
        """The hit of a ``string`` or ``substring`` list for any value."""
        low = value.strip().lower()
        hit = self._strings.get(low)
        if hit is not None:
            return hit
        for needle, found in self._substrings:
            if needle in low:
                return found
        return None

    def check(self, value: str) -> Hit | None:
        """The hit for one value of unknown kind (``mburoja warninglist check``)."""
        value = value.strip()
        if _network(value) is not None:
            return self.network(value) or self.text(value)
        return self.domain(value) or self.text(value)

    def key(self, key: Key) -> Hit | None:
        """The hit for one compiled match key (see the module doc for which lists apply)."""
        if key.kind in ("ip", "net"):
            hit = self.network(key.value)
        elif key.kind == "endpoint":
            hit = self.network(key.value.rsplit("|", 1)[0])
        elif key.kind == "domain":
            hit = self.domain(key.value)
        else:
            hit = None
        return hit or self.text(key.value)

    def indicator(self, compiled: Compiled) -> Hit | None:
        """The first hit among an indicator's keys: the indicator is held out."""
        for key in compiled.keys:
            hit = self.key(key)
            if hit is not None:
                return hit
        return None


def _domain(value: str) -> str:
    from mburoja.detect.compile import domain_key

    return domain_key(value.strip().lstrip("*").lstrip("."))


# -- reading lists -----------------------------------------------------------------------


def read_list(path: Path) -> WarningList:
    """One list file: JSON (``.json``: a MISP warninglist, or a cloud provider's published
    ranges, see :func:`_read_ranges`) or our text format.

    The text format: ``# name: <name>`` and ``# type: <cidr|hostname|string|substring>``
    header lines (``# description:`` lines optional, ``# default: off`` for a list that
    is off unless enabled by name), then one value per line; ``#`` starts a comment.
    A bad line is a :class:`ConfigError` naming the file and the line.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read warning list: {exc.strerror or exc}") from exc
    if path.suffix.lower() == ".json":
        return _read_misp(path, data)
    return _read_text(path, data)


def _read_text(path: Path, data: bytes) -> WarningList:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: warning list is not UTF-8 text") from exc
    head: dict[str, list[str]] = {}
    values: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("#"):
            field, sep, rest = stripped[1:].partition(":")
            if sep and field.strip().lower() in _HEADERS and not values:
                head.setdefault(field.strip().lower(), []).append(rest.strip())
            continue
        value = stripped.split(" #", 1)[0].strip()
        if value:
            values.append((number, value))
    name = " ".join(head.get("name", [])).strip()
    kind = " ".join(head.get("type", [])).strip().lower()
    if not name:
        raise ConfigError(f"{path}: line 1: the warning list needs a '# name: <name>' header")
    if kind not in TYPES:
        raise ConfigError(
            f"{path}: line 1: the warning list needs a '# type: <{'|'.join(TYPES)}>' header"
            + (f", not {kind!r}" if kind else "")
        )
    default = " ".join(head.get("default", ["on"])).strip().lower()
    if default not in ("on", "off"):
        raise ConfigError(f"{path}: '# default:' must be on or off, not {default!r}")
    for number, value in values:
        _check_value(path, f"line {number}", kind, value)
    return WarningList(
        name=name,
        type=kind,
        values=tuple(v for _n, v in values),
        description=" ".join(head.get("description", [])),
        source=str(path),
        default_on=default == "on",
    )


def _read_misp(path: Path, data: bytes) -> WarningList:
    try:
        body: Any = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ConfigError(f"{path}: a MISP warning list is a JSON object")
    if "list" not in body and ("prefixes" in body or "values" in body):
        return _read_ranges(path, body)
    name, kind, entries = body.get("name"), body.get("type"), body.get("list")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{path}: field 'name' must be a non-empty string")
    if kind not in TYPES:
        raise ConfigError(f"{path}: field 'type' must be one of {', '.join(TYPES)}, not {kind!r}")
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: field 'list' must be an array of strings")
    values: list[str] = []
    for i, value in enumerate(entries):
        if not isinstance(value, str):
            raise ConfigError(f"{path}: list[{i}]: {value!r} is not a string")
        if value.strip():
            _check_value(path, f"list[{i}]", kind, value.strip())
            values.append(value.strip())
    description = body.get("description")
    return WarningList(
        name=name.strip(),
        type=kind,
        values=tuple(values),
        description=description if isinstance(description, str) else "",
        source=str(path),
    )


#: where each provider's JSON keeps its networks: (array, key of each entry's network)
_RANGE_FIELDS: Final = (
    ("prefixes", "ip_prefix"),  # AWS ip-ranges.json
    ("ipv6_prefixes", "ipv6_prefix"),  # AWS
    ("prefixes", "ipv4Prefix"),  # Google goog.json, cloud.json
    ("prefixes", "ipv6Prefix"),  # Google
)


def _read_ranges(path: Path, body: dict[str, Any]) -> WarningList:
    """A cloud or CDN provider's published address ranges as a ``cidr`` list named after
    the file (``aws-ip-ranges.json`` -> ``aws-ip-ranges``): AWS ``prefixes[].ip_prefix`` and
    ``ipv6_prefixes[].ipv6_prefix``, Google ``prefixes[].ipv4Prefix|ipv6Prefix``, Azure
    service tags ``values[].properties.addressPrefixes[]``. A network that does not parse is
    an error naming its place."""
    found: list[tuple[str, str]] = []
    for array, key in _RANGE_FIELDS:
        entries = body.get(array)
        if not isinstance(entries, list):
            continue
        for i, entry in enumerate(entries):
            if isinstance(entry, dict) and isinstance(entry.get(key), str):
                found.append((f"{array}[{i}].{key}", entry[key]))
    tags = body.get("values")
    if isinstance(tags, list):
        for i, tag in enumerate(tags):
            props = tag.get("properties") if isinstance(tag, dict) else None
            prefixes = props.get("addressPrefixes") if isinstance(props, dict) else None
            for j, prefix in enumerate(prefixes if isinstance(prefixes, list) else []):
                if isinstance(prefix, str):
                    found.append((f"values[{i}].properties.addressPrefixes[{j}]", prefix))
    if not found:
        raise ConfigError(
            f"{path}: no address ranges found: expected a MISP warning list ('name', 'type', "
            "'list') or a provider's ranges (AWS 'prefixes[].ip_prefix', Google "
            "'prefixes[].ipv4Prefix', Azure 'values[].properties.addressPrefixes')"
        )
    for where, value in found:
        _check_value(path, where, "cidr", value.strip())
    return WarningList(
        name=path.stem,
        type="cidr",
        values=tuple(dict.fromkeys(value.strip() for _where, value in found)),
        description=f"address ranges published by the provider ({path.name})",
        source=str(path),
    )


def _check_value(path: Path, where: str, kind: str, value: str) -> None:
    if kind == "cidr" and _network(value) is None:
        raise ConfigError(f"{path}: {where}: {value[:80]!r} is not an IP address or CIDR")
    if kind == "hostname" and (" " in value or "/" in value or not _domain(value)):
        raise ConfigError(f"{path}: {where}: {value[:80]!r} is not a domain name")


@lru_cache(maxsize=1)
def shipped() -> tuple[WarningList, ...]:
    """The lists shipped in ``mburoja/lifecycle/lists``, sorted by name."""
    folder = resources.files("mburoja.lifecycle") / "lists"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith((".txt", ".json")):
            with resources.as_file(entry) as path:
                found.append(read_list(path))
    return tuple(sorted(found, key=lambda wl: wl.name))


def select_lists(
    *,
    enabled: bool = True,
    paths: Sequence[str] = (),
    disabled: Sequence[str] = (),
    turned_on: Sequence[str] = (),
) -> tuple[WarningList, ...]:
    """The lists in force: the shipped ones that are on (by default or by ``turned_on``)
    and the user's from ``paths`` (files, or folders of ``.txt``/``.json`` files), less
    those named in ``disabled``. ``enabled`` False: none."""
    if not enabled:
        return ()
    chosen = [wl for wl in shipped() if wl.default_on or wl.name in turned_on]
    for text in paths:
        path = Path(text)
        files = (
            sorted(p for p in path.iterdir() if p.suffix.lower() in (".txt", ".json"))
            if path.is_dir()
            else [path]
        )
        chosen += [read_list(p) for p in files]
    known = {wl.name for wl in shipped()} | {wl.name for wl in chosen}
    for name in (*disabled, *turned_on):
        if name not in known:
            raise ConfigError(
                f"warninglists: no warning list is named {name!r}; "
                f"known: {', '.join(sorted(known))}"
            )
    return tuple(wl for wl in chosen if wl.name not in disabled)


def all_lists(settings: WarninglistSettings) -> list[tuple[WarningList, bool]]:
    """Every list the settings know (shipped and the user's), each with whether it is in
    force, for ``mburoja warninglist list``."""
    active = {wl.name for wl in from_settings(settings).lists}
    user = select_lists(paths=settings.paths, disabled=(), turned_on=())
    seen: dict[str, WarningList] = {wl.name: wl for wl in (*shipped(), *user)}
    return [(wl, wl.name in active) for wl in seen.values()]


def from_settings(settings: WarninglistSettings) -> WarningLists:
    """The lists the ``[warninglists]`` settings put in force, compiled."""
    return _compiled(
        settings.enabled,
        tuple(settings.paths),
        tuple(settings.disabled_lists),
        tuple(settings.enabled_lists),
    )


@lru_cache(maxsize=8)
def _compiled(
    enabled: bool, paths: tuple[str, ...], disabled: tuple[str, ...], turned_on: tuple[str, ...]
) -> WarningLists:
    # Cached by the settings' values: an index or export build compiles the lists once.
    # A user list edited on disk is read again after a restart.
    return WarningLists(
        select_lists(enabled=enabled, paths=paths, disabled=disabled, turned_on=turned_on)
    )


def defaults() -> WarningLists:
    """The shipped lists that are on by default (what code without settings uses)."""
    return _compiled(True, (), (), ())
