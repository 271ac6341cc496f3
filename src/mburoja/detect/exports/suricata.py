"""Suricata datasets, file-hash lists, IP reputation files and the rules that use them.

The export is a directory, meant to be a rules directory (``default-rule-path``):

``mburoja.rules``
    the rules, headed by the export's comment header.
``domains.lst``
    ``string`` dataset: one domain per line, base64 encoded as Suricata string datasets
    require. Used on ``dns.query``, ``http.host`` and ``tls.sni``.
``ips.lst``
    ``ip`` dataset (IPv4 and IPv6 addresses, Suricata 7+), used on ``ip.src``/``ip.dst``.
``md5.lst`` ``sha1.lst`` ``sha256.lst``
    hex hashes for the ``filemd5``/``filesha1``/``filesha256`` keywords (there is no file
    hash sticky buffer for a dataset). Suricata looks these up in ``default-rule-path``,
    not beside the rules file, and needs file tracking with hashing enabled.
``categories.txt`` ``reputation.list``
    IP reputation (``iprep``) for networks (CIDRs), which no dataset type holds. They take
    effect only when ``suricata.yaml`` names them (the header says how); score = the
    indicator's confidence scaled to 1-127 (127 without a confidence).

Only the files with entries are written, and those of a previous export that this one
does not write are removed, so the directory is exactly this export. Dataset files carry no
comment: Suricata would read a comment line as data.

Coverage, stated in the header too: datasets are exact matches. Mburoja matches a domain's
subdomains; here the first ``suffix_rules`` domains (sorted) also get a DNS rule
``dotprefix; content:".domain"; nocase; endswith;`` that covers the name and its subdomains,
and the rest match exactly only. Datasets compare bytes, so a name sent in another case does
not match unless ``lowercase`` adds ``to_lowercase`` (Suricata 8). URLs, e-mail addresses,
certificate hashes, SHA-512 and endpoints are not written.

Sizing: each dataset keyword carries ``hashsize`` (the next power of two above its count,
at most ``hashsize_max``) and a generous ``memcap`` for its count, since the defaults
(4,096 buckets, 16 MiB) are far too small for a million entries. Suricata refuses a
``hashsize`` above ``datasets.limits.single-hashsize`` (65,536 by default in Suricata 8,
262,144 in 7.0.x); past ``hashsize_max`` the buckets get longer chains instead.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from mburoja.detect.compile import Compiled
from mburoja.detect.exports.selection import (
    ExportOptions,
    ExportReport,
    Refused,
    Render,
    Selection,
    header,
    network,
    select,
)
from mburoja.errors import ConfigError

RULES: Final = "mburoja.rules"
DOMAINS: Final = "domains.lst"
IPS: Final = "ips.lst"
HASH_FILES: Final = {"md5": "md5.lst", "sha1": "sha1.lst", "sha256": "sha256.lst"}
CATEGORIES: Final = "categories.txt"
REPUTATION: Final = "reputation.list"
ALL_FILES: Final = (RULES, DOMAINS, IPS, *HASH_FILES.values(), CATEGORIES, REPUTATION)
CATEGORY: Final = "mburoja"
#: App-layer protocols that carry files and are enabled in a default suricata.yaml.
FILE_PROTOCOLS: Final = ("http", "smtp", "smb", "ftp-data")
SID_BASE: Final = 1_700_000
HASHSIZE_DEFAULT: Final = 4096
HASHSIZE_MAX: Final = 65_536
#: A generous estimate of what one dataset entry costs Suricata (its hash node, lock and
#: value), and one bucket, for the ``memcap``.
_ENTRY_BYTES: Final = 256
_BUCKET_BYTES: Final = 64
_MIB: Final = 1 << 20
#: Where a domain is looked up: (protocol, sticky buffer, label).
_DOMAIN_BUFFERS: Final = (
    ("dns", "dns.query", "DNS query"),
    ("http", "http.host", "HTTP host"),
    ("tls", "tls.sni", "TLS SNI"),
)
_SAFE_DOMAIN: Final = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")


def _same(value: str) -> str | Refused:
    return value


def _net(value: str) -> str | Refused:
    found = network(value)
    return found if isinstance(found, Refused) else str(found)


TAKES: Final[dict[str, Render]] = {
    "domain": _same,
    "ip": _same,
    "net": _net,
    "md5": _same,
    "sha1": _same,
    "sha256": _same,
}


def hashsize_for(count: int, maximum: int = HASHSIZE_MAX) -> int:
    """Buckets for a dataset of ``count`` entries: a power of two at or above it, no fewer
    than Suricata's default and no more than ``maximum``."""
    size = HASHSIZE_DEFAULT
    while size < count:
        size *= 2
    return max(min(size, maximum), 1)


def memcap_for(count: int, value_bytes: int, hashsize: int) -> str:
    """A ``memcap`` for a dataset of ``count`` entries holding ``value_bytes`` in all,
    rounded up to MiB and never below Suricata's 16 MiB default."""
    need = count * _ENTRY_BYTES + value_bytes + hashsize * _BUCKET_BYTES
    return f"{max(16, -(-need // _MIB))}mb"


def _dataset(name: str, kind: str, filename: str, values: list[str], maximum: int) -> str:
    hashsize = hashsize_for(len(values), maximum)
    memcap = memcap_for(len(values), sum(len(v) for v in values), hashsize)
    return f"dataset:isset,{name},type {kind},load {filename},memcap {memcap},hashsize {hashsize};"


def _rule(proto: str, msg: str, body: str, sid: int) -> str:
    return (
        f'alert {proto} any any -> any any (msg:"{msg}"; {body} '
        f"classtype:bad-unknown; sid:{sid}; rev:1;)\n"
    )


def _score(indicator: Compiled) -> int:
    """An iprep score (1-127) from the indicator's confidence (none: 127)."""
    if indicator.confidence is None:
        return 127
    return max(1, min(127, round(indicator.confidence * 127 / 100)))


def _write(directory: Path, name: str, text: str) -> None:
    """Write one file whole, then move it into place: a sensor never reads half a file."""
    target = directory / name
    partial = directory / f".{name}.partial"
    partial.write_text(text, encoding="utf-8", newline="\n")
    os.replace(partial, target)


def _rules(
    selection: Selection,
    *,
    sid_base: int,
    suffix_rules: int,
    hashsize_max: int,
    lowercase: bool,
) -> tuple[list[str], dict[str, str], list[str]]:
    """The rule lines, the data files (name -> text) and the coverage notes."""
    files: dict[str, str] = {}
    rules: list[str] = []
    notes: list[str] = []
    lower = "to_lowercase; " if lowercase else ""
    domains = selection.values("domain")
    if domains:
        files[DOMAINS] = "".join(
            base64.b64encode(d.encode()).decode("ascii") + "\n" for d in domains
        )
        keyword = _dataset("mburoja-domains", "string", DOMAINS, domains, hashsize_max)
        for offset, (proto, buffer, label) in enumerate(_DOMAIN_BUFFERS, start=1):
            case = "" if buffer == "http.host" else lower  # http.host is lower-cased already
            msg = f"MBUROJA {label} for a listed domain"
            rules.append(_rule(proto, msg, f"{buffer}; {case}{keyword}", sid_base + offset))
        suffixed = [d for d in domains if _SAFE_DOMAIN.fullmatch(d)][:suffix_rules]
        for i, domain in enumerate(suffixed):
            body = f'dns.query; dotprefix; content:".{domain}"; nocase; endswith;'
            msg = f"MBUROJA DNS query for {domain} or a subdomain"
            rules.append(_rule("dns", msg, body, sid_base + 1000 + i))
        notes.append(
            f"domains: {len(domains):,} in the exact-match dataset (DNS query, HTTP host, TLS "
            f"SNI); {len(suffixed):,} also have a DNS rule for their subdomains, "
            f"{len(domains) - len(suffixed):,} match exactly only (Mburoja matches subdomains)"
        )
        if not lowercase:
            notes.append(
                "datasets compare bytes: a DNS name or SNI sent in upper case does not match "
                "(Suricata 8: export with lower-casing)"
            )
    addresses = selection.values("ip")
    if addresses:
        files[IPS] = "".join(a + "\n" for a in addresses)
        keyword = _dataset("mburoja-ips", "ip", IPS, addresses, hashsize_max)
        for offset, side in ((10, "dst"), (11, "src")):
            msg = f"MBUROJA listed address as {'destination' if side == 'dst' else 'source'}"
            rules.append(_rule("ip", msg, f"ip.{side}; {keyword}", sid_base + offset))
    for h, (kind, filename) in enumerate(HASH_FILES.items()):
        hashes = selection.values(kind)
        if not hashes:
            continue
        files[filename] = "".join(v + "\n" for v in hashes)
        for p, proto in enumerate(FILE_PROTOCOLS):
            msg = f"MBUROJA file with a listed {kind.upper()} ({proto})"
            body = f"file{kind}:{filename};"
            rules.append(_rule(proto, msg, body, sid_base + 30 + h * 10 + p))
    if any(e.kind in HASH_FILES for e in selection.entries):
        notes.append(
            "file hashes: the lists are read from default-rule-path; Suricata must track "
            "and hash files (file-store force-hash, or outputs.files force-hash: [md5, sha1, "
            f"sha256]); protocols: {', '.join(FILE_PROTOCOLS)}"
        )
    nets = selection.values("net")
    if nets:
        scores: dict[str, int] = {}
        for e in selection.entries:
            if e.kind == "net":
                score = _score(selection.indicators[e.indicator_id])
                scores[e.value] = max(scores.get(e.value, 0), score)
        files[CATEGORIES] = f"1,{CATEGORY},Mburoja indicators\n"
        files[REPUTATION] = "".join(f"{net},1,{scores[net]}\n" for net in nets)
        body = f"iprep:any,{CATEGORY},>,0;"
        rules.append(_rule("ip", "MBUROJA address in a listed network", body, sid_base + 20))
        notes.append(
            "networks: IP reputation; suricata.yaml needs reputation-categories-file: "
            f"<dir>/{CATEGORIES}, default-reputation-path: <dir>, reputation-files: "
            f"[{REPUTATION}] (without them the iprep rule does not load)"
        )
    return rules, files, notes


def write_suricata(
    indicators: Iterable[Compiled],
    directory: Path,
    options: ExportOptions,
    *,
    sid_base: int = SID_BASE,
    suffix_rules: int = 10_000,
    hashsize_max: int = HASHSIZE_MAX,
    lowercase: bool = False,
) -> ExportReport:
    """Write the Suricata export for ``indicators`` into ``directory`` (created if new)."""
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"{directory} is a file: the Suricata export needs a directory")
    selection = select(indicators, "suricata", TAKES, options)
    report = selection.report
    report.entries = selection.count_distinct()
    rules, files, notes = _rules(
        selection,
        sid_base=sid_base,
        suffix_rules=suffix_rules,
        hashsize_max=hashsize_max,
        lowercase=lowercase,
    )
    report.notes.extend(notes)
    directory.mkdir(parents=True, exist_ok=True)
    head = header(report)
    files[RULES] = head + "".join(rules)
    for name in (CATEGORIES, REPUTATION):
        if name in files:
            files[name] = head + files[name]
    for name in ALL_FILES:
        if name in files:
            _write(directory, name, files[name])
        else:
            (directory / name).unlink(missing_ok=True)
    report.files = sorted(files)
    return report
