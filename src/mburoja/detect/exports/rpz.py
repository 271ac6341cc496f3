"""A DNS Response Policy Zone (RPZ) for resolvers (BIND, Unbound, Knot Resolver, PowerDNS).

The zone has ``$TTL``, an SOA whose serial is the export time in seconds, one NS, then the
triggers, each with the policy action:

* a ``domain`` gives a QNAME trigger for the name and one for its subdomains
  (``evil.example`` and ``*.evil.example``), as Mburoja matches both;
* an ``ip`` or ``net`` gives a response-IP trigger: ``<prefix length>.<address reversed>.
  rpz-ip``, so ``1.2.3.4`` is ``32.4.3.2.1.rpz-ip`` and ``2001:db8::/32`` is
  ``32.zz.db8.2001.rpz-ip`` (IPv6 in 16-bit words, ``zz`` for the ``::`` run, as the RPZ
  specification writes it). It acts on answers that contain the address.

Actions (:data:`ACTIONS`): ``nxdomain`` (``CNAME .``), ``nodata`` (``CNAME *.``), ``drop``
(``CNAME rpz-drop.``), ``passthru`` (``CNAME rpz-passthru.``), ``tcp-only``
(``CNAME rpz-tcp-only.``) or ``redirect`` to a walled-garden name (``CNAME <name>``).
Other key kinds are not written; names that are not valid DNS names are dropped and
counted, as are networks too broad to block.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
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
from mburoja.stix import timestamps

ORIGIN: Final = "rpz.mburoja.local."
ACTIONS: Final[dict[str, str]] = {
    "nxdomain": ".",
    "nodata": "*.",
    "drop": "rpz-drop.",
    "passthru": "rpz-passthru.",
    "tcp-only": "rpz-tcp-only.",
    "redirect": "",  # the walled-garden name
}
_LABEL: Final = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?", re.IGNORECASE)
_MAX_WIRE: Final = 255
_IPV4: Final = re.compile(
    r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
)


def wire_length(name: str) -> int:
    """Octets of an absolute name in DNS wire format."""
    return sum(len(label) + 1 for label in name.rstrip(".").split(".") if label) + 1


def valid_name(name: str) -> bool:
    """Whether ``name`` (absolute or not) is a host name RPZ can carry: LDH (and ``_``)
    labels of at most 63 octets, at most 255 octets in all."""
    labels = name.rstrip(".").split(".")
    return all(_LABEL.fullmatch(label) for label in labels) and wire_length(name) <= _MAX_WIRE


def ip_trigger(value: str) -> str:
    """The ``rpz-ip`` owner name (relative to the zone) of an address or network."""
    net = ipaddress.ip_network(value, strict=False)
    if net.version == 4:
        octets = str(net.network_address).split(".")
        return f"{net.prefixlen}.{'.'.join(reversed(octets))}.rpz-ip"
    head, _, tail = net.network_address.compressed.partition("::")
    words_head = [w for w in head.split(":") if w]
    words_tail = [w for w in tail.split(":") if w]
    if "::" in net.network_address.compressed:
        words = [*reversed(words_tail), "zz", *reversed(words_head)]
    else:
        words = list(reversed(words_head))
    return f"{net.prefixlen}.{'.'.join(words)}.rpz-ip"


def _render(origin: str) -> dict[str, Render]:
    def domain(value: str) -> str | Refused:
        if not valid_name(value) or wire_length(f"*.{value}.{origin}") > _MAX_WIRE:
            return Refused("not a valid DNS name under the zone origin")
        return value.lower()

    def address(value: str) -> str | Refused:
        if _IPV4.fullmatch(value):  # the common case, without parsing: a canonical IPv4
            return f"32.{'.'.join(reversed(value.split('.')))}.rpz-ip"
        found = network(value)
        return found if isinstance(found, Refused) else ip_trigger(str(found))

    return {"domain": domain, "ip": address, "net": address}


def _absolute(name: str, what: str) -> str:
    name = name.strip()
    name = name if name.endswith(".") else name + "."
    if name != "." and not valid_name(name):
        raise ConfigError(f"{what} {name!r} is not a valid DNS name")
    return name


def write_rpz(
    indicators: Iterable[Compiled],
    out: TextIO,
    options: ExportOptions,
    *,
    origin: str = ORIGIN,
    action: str = "nxdomain",
    redirect: str | None = None,
    ttl: int = 300,
) -> ExportReport:
    """Write a response policy zone for ``indicators`` to ``out``."""
    if action not in ACTIONS:
        raise ConfigError(f"RPZ action {action!r} is not one of {', '.join(ACTIONS)}")
    if (action == "redirect") != (redirect is not None):
        raise ConfigError("an RPZ redirect needs a walled-garden name, and only a redirect")
    origin = _absolute(origin, "RPZ origin")
    target = _absolute(redirect, "RPZ redirect target") if redirect else ACTIONS[action]
    selection = select(indicators, "rpz", _render(origin), options)
    report = selection.report
    report.entries = selection.count_distinct()
    report.notes.append(f"action {action}: CNAME {target}; origin {origin}")
    if "domain" in report.entries:
        report.notes.append("each domain is written for itself and *. for its subdomains")
    if "ip" in report.entries or "net" in report.entries:
        report.notes.append("addresses and networks are response-IP (rpz-ip) triggers")
    serial = int(timestamps.parse(options.generated).timestamp()) % (1 << 32)
    out.write(header(report, prefix=";"))
    out.write(f"$TTL {ttl}\n$ORIGIN {origin}\n")
    out.write(f"@ IN SOA localhost. hostmaster.localhost. {serial} 3600 600 86400 {ttl}\n")
    out.write("@ IN NS localhost.\n")
    for name in selection.values("domain"):
        out.write(f"{name} CNAME {target}\n*.{name} CNAME {target}\n")
    for trigger in selection.values("ip", "net"):
        out.write(f"{trigger} CNAME {target}\n")
    return report
