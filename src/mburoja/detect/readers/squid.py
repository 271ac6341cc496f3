"""Squid's native ``access.log`` format (``logformat squid``)::

    time elapsed remotehost code/status bytes method URL rfc931 peerstatus/peerhost type

``time`` is epoch seconds with milliseconds; ``elapsed`` is padded with spaces, so fields
are split on runs of blanks. The matcher reads the client address, the URL and the host of
the URL; a ``CONNECT`` names only ``host:port``, which gives the host and no URL. The peer
host (after ``HIER_.../``) is the destination the proxy talked to. A line has no id of its
own, so the record id is a hash of the line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Final

from mburoja.detect.model import LOGS, Record, line_id, values_of
from mburoja.detect.readers.source import Line, content

if TYPE_CHECKING:
    from mburoja.detect.readers import ReadStats

_SPEC: Final = LOGS["squid"]
_WIDTH: Final = 10
#: One native access.log line, for format detection.
SHAPE: Final = re.compile(
    rb"^\d{9,11}(?:\.\d+)?\s+-?\d+\s+\S+\s+[A-Z_]+/\d{3}\s+\d+\s+\S+\s+\S+\s+\S+\s+[A-Z_]+/\S+\s+\S+\s*$"
)


def authority_host(authority: str) -> str | None:
    """``user@host:port`` → ``host``; ``[2001:db8::1]:443`` → ``2001:db8::1``."""
    authority = authority.rpartition("@")[2]
    if authority.startswith("["):
        end = authority.find("]")
        return (authority[1:end] or None) if end > 0 else None
    if authority.count(":") == 1:
        authority = authority.partition(":")[0]
    return authority or None


def url_host(url: str) -> str | None:
    """The host of an absolute URL, or None when ``url`` is not one."""
    _, scheme, rest = url.partition("://")
    if not scheme:
        return None
    end = len(rest)
    for mark in "/?#":
        found = rest.find(mark)
        if 0 <= found < end:
            end = found
    return authority_host(rest[:end])


def parse(lines: Iterable[Line], stats: ReadStats) -> Iterator[Record | None]:
    """Records of access.log lines; ``None`` marks an idle followed source."""
    for line in content(lines, stats):
        if line is None:
            yield None
            continue
        source, number, raw = line
        parts = raw.decode("utf-8", "replace").split()
        if len(parts) != _WIDTH:
            stats.add_bad(source, number, f"expected {_WIDTH} fields, got {len(parts)}")
            continue
        time, _elapsed, client, _result, _size, method, url, _user, hierarchy, _type = parts
        try:
            ts = float(time)
        except ValueError:
            stats.add_bad(source, number, f"time: {time!r} is not epoch seconds")
            continue
        link: str | None = url
        if method == "CONNECT":
            host, link = authority_host(url), None
        else:
            host = url_host(url)
            if host is None:
                link = None  # error:invalid-request and the like
        peer = hierarchy.partition("/")[2]
        fields = {
            "client": client,
            "url": link,
            "host": host,
            "time": time,
            "peer": None if peer in ("", "-") else peer,
        }
        stats.records += 1
        yield Record(
            source=source,
            line=number,
            log=_SPEC.name,
            rid=line_id(_SPEC.name, raw),
            ts=ts,
            values=values_of(_SPEC, fields.get),
            src_ip=client,
            dst_ip=fields["peer"],
        )
