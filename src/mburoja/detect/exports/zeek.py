"""Zeek Intel framework files.

One line per (value, indicator), tab separated, under the ``#fields`` line the Intel
framework reads: ``indicator``, ``indicator_type``, ``meta.source``, ``meta.desc`` and
``meta.url``. Zeek's input reader skips other lines that start with ``#``, so the header
comment is safe. Fields are escaped the way the reader unescapes them (``\\x09`` for a tab).

What Zeek Intel can and cannot match, and what is therefore written:

* ``domain`` -> ``Intel::DOMAIN``. Zeek matches the name *exactly*, where Mburoja matches
  the name and all its subdomains. :data:`SUBDOMAIN_MODES` say what the file does about it.
* ``ip`` -> ``Intel::ADDR``; ``net`` -> ``Intel::SUBNET``.
* ``url`` -> ``Intel::URL``, which Zeek writes without the scheme (``host/path``) and sees
  only in clear-text HTTP: only ``http://`` URLs without user info or fragment are written.
* ``md5``/``sha1``/``sha256`` -> ``Intel::FILE_HASH`` (Zeek does not compute SHA-512).
* ``x509-*`` -> ``Intel::CERT_HASH``; ``email`` -> ``Intel::EMAIL``.
* ``endpoint`` (address and port together) has no Intel type and is not written.
"""

from __future__ import annotations

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
    indicator_level,
    select,
    tlp_label,
)

FIELDS: Final = ("indicator", "indicator_type", "meta.source", "meta.desc", "meta.url")
#: What ``subdomains`` may be, and what each does.
SUBDOMAIN_MODES: Final[dict[str, str]] = {
    "exact": "each domain is written once; Zeek Intel matches it exactly, so its "
    "subdomains are NOT covered",
    "wildcard-note": "as exact, and each domain line's meta.desc says that its subdomains "
    "were meant too; the file ends with a comment listing those domains, for a script that "
    "walks parent names",
}
TYPES: Final[dict[str, str]] = {
    "domain": "Intel::DOMAIN",
    "ip": "Intel::ADDR",
    "net": "Intel::SUBNET",
    "url": "Intel::URL",
    "md5": "Intel::FILE_HASH",
    "sha1": "Intel::FILE_HASH",
    "sha256": "Intel::FILE_HASH",
    "email": "Intel::EMAIL",
    "x509-md5": "Intel::CERT_HASH",
    "x509-sha1": "Intel::CERT_HASH",
    "x509-sha256": "Intel::CERT_HASH",
}
_SPECIAL: Final = re.compile(r"[\\\t\n\r]")
_SUBDOMAIN_NOTE: Final = "subdomains intended; Zeek Intel matches this name only"


def _same(value: str) -> str | Refused:
    return value


def _url(value: str) -> str | Refused:
    """A normalised ``http://`` URL as Zeek's HTTP analyser writes it: host and path."""
    if not value.startswith("http://"):
        return Refused("only http:// URLs are visible to Zeek")
    rest = value.removeprefix("http://")
    authority = rest.split("/", 1)[0].split("?", 1)[0]
    if "@" in authority or "#" in rest:
        return Refused("a URL with user info or a fragment never appears in an HTTP request")
    return rest


TAKES: Final[dict[str, Render]] = {kind: _url if kind == "url" else _same for kind in TYPES}


def escape(field: str) -> str:
    """A field as Zeek's ASCII input reader reads it back: backslash, tab, newline and
    carriage return as ``\\xNN``; empty as ``(empty)``; a lone ``-`` (unset) and a leading
    ``#`` (a comment) escaped."""
    out = field
    if _SPECIAL.search(out):
        out = (
            out.replace("\\", "\\x5c")
            .replace("\t", "\\x09")
            .replace("\n", "\\x0a")
            .replace("\r", "\\x0d")
        )
    if out == "":
        return "(empty)"
    if out == "-":
        return "\\x2d"
    if out.startswith("#"):  # the reader would skip the line as a comment
        return "\\x23" + out[1:]
    return out


def write_zeek(
    indicators: Iterable[Compiled],
    out: TextIO,
    options: ExportOptions,
    *,
    subdomains: str = "exact",
    url_base: str | None = None,
) -> ExportReport:
    """Write an Intel file for ``indicators`` to ``out``; ``url_base`` (e.g. the web UI's
    indicator page) is put before each indicator id in ``meta.url`` (else ``-``)."""
    if subdomains not in SUBDOMAIN_MODES:
        raise ValueError(f"subdomains {subdomains!r} is not one of {', '.join(SUBDOMAIN_MODES)}")
    selection = select(indicators, "zeek", TAKES, options)
    report = selection.report
    report.entries = selection.count_lines()
    domains = selection.values("domain")
    if domains:
        report.notes.append(f"--zeek-subdomains {subdomains}: {SUBDOMAIN_MODES[subdomains]}")
        report.notes.append(
            f"{len(domains):,} domains: Mburoja also matches their subdomains, this file does not"
        )
    level = indicator_level(options)
    out.write(header(report))
    out.write("#fields\t" + "\t".join(FIELDS) + "\n")
    for entry in selection.entries:
        indicator = selection.indicators[entry.indicator_id]
        desc = f"{indicator.name or 'indicator'} ({indicator.id}) {tlp_label(level(indicator))}"
        if entry.kind == "domain" and subdomains == "wildcard-note":
            desc += f"; {_SUBDOMAIN_NOTE}"
        source = indicator.created_by or indicator.owner or "mburoja"
        link = f"{url_base}{indicator.id}" if url_base else None
        fields = (entry.value, TYPES[entry.kind], source, desc)
        out.write("\t".join(escape(f) for f in fields) + "\t" + (escape(link) if link else "-"))
        out.write("\n")
    if subdomains == "wildcard-note" and domains:
        out.write(f"# subdomain intent lost ({len(domains):,} domains):\n")
        out.writelines(f"#\t{escape(domain)}\n" for domain in domains)
    return report
