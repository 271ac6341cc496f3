"""An nftables script: the listed addresses and networks as interval sets, and chains
that drop traffic to and from them.

``nft -f`` applies the whole file as one transaction. It first makes sure the table exists
and deletes it, then defines it again, so loading a new export replaces the old one
atomically. Interval sets reject overlapping elements, so each family's addresses and
networks are merged first (an address inside a listed network, or two adjacent networks,
become one element: :func:`merged`); the header says how many merged.
Elements are added in chunks of ``chunk`` so that a million-entry list stays within what
the parser handles comfortably.

Networks wider than /8 (IPv4) or /16 (IPv6) are refused as too broad to block. Domains,
URLs, hashes and the other key kinds are not written; an ``endpoint`` (address and port)
would need a concatenated set and is not written either.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence
from typing import Final, TextIO

from mburoja.detect.compile import Compiled
from mburoja.detect.exports.selection import (
    ExportOptions,
    ExportReport,
    Refused,
    Render,
    header,
    network,
    select,
)
from mburoja.errors import ConfigError

TABLE: Final = "mburoja"
CHUNK: Final = 10_000
_IDENTIFIER: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")


def _address(value: str) -> str | Refused:
    """An ``ip`` key value, checked strictly (it is written as it is)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, value)
        except OSError:
            continue
        return value
    return Refused("not an IP address")


def _net(value: str) -> str | Refused:
    found = network(value)
    return found if isinstance(found, Refused) else str(found)


TAKES: Final[dict[str, Render]] = {"ip": _address, "net": _net}


def _span(value: str) -> tuple[int, int, int]:
    """(IP version, first address, last address) of an address or a CIDR, as integers."""
    if "/" in value:
        net = ipaddress.ip_network(value)
        return net.version, int(net.network_address), int(net.broadcast_address)
    if ":" in value:
        number = int.from_bytes(socket.inet_pton(socket.AF_INET6, value), "big")
        return 6, number, number
    number = int.from_bytes(socket.inet_pton(socket.AF_INET, value), "big")
    return 4, number, number


def merged(values: Iterable[str]) -> dict[int, list[str]]:
    """The set elements of each IP version: the values' address ranges, overlapping and
    adjacent ones joined, each written as the fewest addresses and CIDRs that cover it."""
    runs: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
    for version, first, last in sorted(_span(v) for v in values):
        found = runs[version]
        if found and first <= found[-1][1] + 1:
            if last > found[-1][1]:
                found[-1] = (found[-1][0], last)
        else:
            found.append((first, last))
    return {version: _elements(version, found) for version, found in runs.items()}


def _elements(version: int, runs: list[tuple[int, int]]) -> list[str]:
    full = 32 if version == 4 else 128
    make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    out: list[str] = []
    for first, last in runs:
        if first == last and version == 4:
            out.append(socket.inet_ntop(socket.AF_INET, first.to_bytes(4, "big")))
            continue
        for net in ipaddress.summarize_address_range(make(first), make(last)):
            out.append(str(net.network_address) if net.prefixlen == full else str(net))
    return out


def _add(out: TextIO, table: str, name: str, elements: Sequence[str], chunk: int) -> None:
    for start in range(0, len(elements), chunk):
        out.write(
            f"add element inet {table} {name} {{ {', '.join(elements[start : start + chunk])} }}\n"
        )


def write_nft(
    indicators: Iterable[Compiled],
    out: TextIO,
    options: ExportOptions,
    *,
    table: str = TABLE,
    chunk: int = CHUNK,
) -> ExportReport:
    """Write an nftables script for ``indicators`` to ``out``."""
    if not _IDENTIFIER.fullmatch(table):
        raise ConfigError(f"nftables table name {table!r}: use letters, digits and _")
    if chunk < 1:
        raise ConfigError("the nftables element chunk must be at least 1")
    selection = select(indicators, "nft", TAKES, options)
    report = selection.report
    listed = selection.values("ip", "net")
    elements = merged(listed)
    v4, v6 = elements[4], elements[6]
    report.entries = selection.count_distinct()
    joined = len(listed) - len(v4) - len(v6)
    report.notes.append(
        f"set elements: {len(v4):,} IPv4, {len(v6):,} IPv6"
        + (f" ({joined:,} overlapping or adjacent entries merged)" if joined else "")
    )
    report.notes.append(
        "chains input, forward and output drop traffic from and to the sets "
        f"(table inet {table}, replaced as a whole on each load)"
    )
    out.write("#!/usr/sbin/nft -f\n")
    out.write(header(report))
    out.write(f"table inet {table}\ndelete table inet {table}\n")
    out.write(f"table inet {table} {{\n")
    for name, family in (("blocklist_v4", "ipv4_addr"), ("blocklist_v6", "ipv6_addr")):
        out.write(f"\tset {name} {{\n\t\ttype {family}\n\t\tflags interval\n\t}}\n")
    for chain, hook, matches in (
        ("input", "input", ("saddr",)),
        ("forward", "forward", ("saddr", "daddr")),
        ("output", "output", ("daddr",)),
    ):
        out.write(f"\tchain {chain} {{\n\t\ttype filter hook {hook} priority -10; policy accept;\n")
        for side in matches:
            out.write(f"\t\tip {side} @blocklist_v4 counter drop\n")
            out.write(f"\t\tip6 {side} @blocklist_v6 counter drop\n")
        out.write("\t}\n")
    out.write("}\n")
    _add(out, table, "blocklist_v4", v4, chunk)
    _add(out, table, "blocklist_v6", v6, chunk)
    return report
