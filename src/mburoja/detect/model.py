"""Telemetry records and what the matcher looks for in them.

A reader (``mburoja.detect.readers``) turns each log line into a :class:`Record`: where it
came from, a stable record id, a timestamp, and the observable *values* it carries as
``(kind, raw value)`` pairs. The matchers normalise the raw values themselves, so a reader
only copies fields out, and the same spec (:data:`LOGS`) drives both the line-by-line readers
and the columnar fast path over whole files.

Kinds a reader may emit (:data:`VALUE_KINDS`):

``domain``    a DNS name as logged (any case, maybe a trailing dot, maybe Unicode)
``ip``        an IPv4 or IPv6 address
``host``      either of the two (an HTTP Host header, a DNS answer, a Squid URL host)
``url``       an absolute URL
``md5`` ``sha1`` ``sha256`` ``sha512``   a file hash, any case
``hash``      a file hash of unknown algorithm (told by its length)
``x509``      a certificate fingerprint, hex with or without colons (told by its length)
``email``     an e-mail address
``endpoint``  a destination ``address|port`` (``network-traffic`` dst address and port)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from hashlib import blake2b
from typing import Any, Final

import msgspec

VALUE_KINDS: Final = frozenset(
    {"domain", "ip", "host", "url", "md5", "sha1", "sha256", "sha512", "hash", "x509"}
    | {"email", "endpoint"}
)


class Record(msgspec.Struct, kw_only=True):
    """One telemetry record.

    ``rid`` identifies the record across re-reads and redeliveries (sightings count distinct
    ``rid``\\ s): ``<log>:<uid>:<ts text>`` for logs with a connection or file id, else
    ``<log>:h:<hash of the line>``. ``values`` holds each pair once, in the log's order.
    """

    source: str
    line: int
    log: str
    rid: str
    ts: float | None
    values: list[tuple[str, str]]
    src_ip: str | None = None
    dst_ip: str | None = None
    dst_port: int | None = None
    proto: str | None = None


class BadLine(msgspec.Struct, frozen=True):
    """A line a reader could not use: where, and why."""

    source: str
    line: int
    reason: str


class Field(msgspec.Struct, frozen=True):
    """One field of a log type that carries an observable.

    ``path`` is the field name as the log writes it (Zeek TSV/JSON keys such as ``id.resp_h``)
    or, for nested JSON, a dotted path into objects (``dns.rrname``); a ``[]`` step walks a
    list (``dns.answers[].rdata``). ``multi``: the value is a Zeek set/vector (TSV: joined by
    the set separator) or a JSON list.
    """

    path: str
    kind: str
    multi: bool = False


class LogSpec(msgspec.Struct, frozen=True):
    """What the matcher reads in one log type."""

    name: str
    fields: tuple[Field, ...]
    #: The fields that make the record id with the timestamp (first present wins).
    uid: tuple[str, ...] = ()
    ts: str = "ts"
    src_ip: str | None = None
    dst_ip: str | None = None
    dst_port: str | None = None
    proto: str | None = None


def _zeek(name: str, *fields: Field, uid: tuple[str, ...] = ("uid",), conn: bool = True) -> LogSpec:
    addresses = (Field("id.orig_h", "ip"), Field("id.resp_h", "ip")) if conn else ()
    return LogSpec(
        name=f"zeek.{name}",
        fields=(*addresses, *fields),
        uid=uid,
        ts="ts",
        src_ip="id.orig_h" if conn else None,
        dst_ip="id.resp_h" if conn else None,
        dst_port="id.resp_p" if conn else None,
        proto="proto" if conn else None,
    )


def _eve(event_type: str, *fields: Field) -> LogSpec:
    return LogSpec(
        name=f"suricata.{event_type}",
        fields=(Field("src_ip", "ip"), Field("dest_ip", "ip"), *fields),
        uid=("flow_id",),
        ts="timestamp",
        src_ip="src_ip",
        dst_ip="dest_ip",
        dst_port="dest_port",
        proto="proto",
    )


_EVE_APP = (
    Field("http.hostname", "host"),
    Field("tls.sni", "domain"),
    Field("tls.fingerprint", "x509"),
    Field("dns.rrname", "domain"),
    Field("dns.queries[].rrname", "domain"),
)

#: Every log type the readers know, by name. Zeek names follow the log path (``dns.log``),
#: Suricata names the EVE ``event_type``. The Zeek HTTP URL and the endpoint are derived
#: (:func:`derived_values`), not plain fields.
LOGS: Final[Mapping[str, LogSpec]] = {
    spec.name: spec
    for spec in (
        _zeek("dns", Field("query", "domain"), Field("answers", "host", multi=True)),
        _zeek("conn"),
        _zeek("http", Field("host", "host")),
        _zeek("ssl", Field("server_name", "domain"), Field("cert_chain_fps", "x509", True)),
        # Zeek 5.1+ logs the file's connection (uid, id.*); up to 5.0 the hosts it went
        # between (tx_hosts, rx_hosts): a log has one layout or, with the deprecated
        # script that adds the old fields back, both. The record id is the file id either
        # way: one connection (uid) can carry many files.
        _zeek(
            "files",
            Field("tx_hosts", "ip", multi=True),
            Field("rx_hosts", "ip", multi=True),
            Field("md5", "md5"),
            Field("sha1", "sha1"),
            Field("sha256", "sha256"),
            uid=("fuid",),
        ),
        _zeek(
            "x509",
            Field("fingerprint", "x509"),
            Field("san.dns", "domain", multi=True),
            Field("san.ip", "ip", multi=True),
            Field("san.email", "email", multi=True),
            uid=("fingerprint", "id"),
            conn=False,
        ),
        _eve(
            "dns",
            Field("dns.rrname", "domain"),
            Field("dns.queries[].rrname", "domain"),
            # Answers come detailed (answers[].rdata), grouped by type, or both: every
            # form is answer data of one kind, so a value both carry is kept once.
            Field("dns.answers[].rdata", "host"),
            Field("dns.grouped.A", "host", multi=True),
            Field("dns.grouped.AAAA", "host", multi=True),
            Field("dns.grouped.CNAME", "host", multi=True),
        ),
        _eve("http", Field("http.hostname", "host")),
        _eve("tls", Field("tls.sni", "domain"), Field("tls.fingerprint", "x509")),
        _eve("flow"),
        _eve(
            "fileinfo",
            Field("fileinfo.md5", "md5"),
            Field("fileinfo.sha1", "sha1"),
            Field("fileinfo.sha256", "sha256"),
            Field("http.hostname", "host"),
        ),
        _eve("alert", *_EVE_APP),
        LogSpec(
            name="squid",
            fields=(Field("client", "ip"), Field("url", "url"), Field("host", "host")),
            ts="time",
            src_ip="client",
            dst_ip="peer",
        ),
    )
}


def line_id(log: str, line: bytes | str) -> str:
    """The record id of a record without a connection or file id: a hash of its line."""
    data = line.encode() if isinstance(line, str) else line
    digest = blake2b(data.rstrip(b"\r\n"), digest_size=8).hexdigest()
    return f"{log}:h:{digest}"


def record_id(log: str, uid: str | None, ts_text: str | None, line: bytes | str) -> str:
    return f"{log}:{uid}:{ts_text or ''}" if uid else line_id(log, line)


def derived_values(spec: LogSpec, get: Callable[[str], Any]) -> list[tuple[str, str]]:
    """Values that combine fields: the Zeek/Suricata HTTP URL and the destination endpoint."""
    out: list[tuple[str, str]] = []
    if spec.name in ("zeek.http", "suricata.http", "suricata.fileinfo", "suricata.alert"):
        host_field, uri_field = (
            ("host", "uri") if spec.name == "zeek.http" else ("http.hostname", "http.url")
        )
        host, uri = get(host_field), get(uri_field)
        if isinstance(host, str) and host and isinstance(uri, str) and uri.startswith("/"):
            out.append(("url", f"http://{host}{uri}"))
    if spec.dst_ip and spec.dst_port:
        ip, port = get(spec.dst_ip), get(spec.dst_port)
        if ip not in (None, "", "-") and port not in (None, "", "-"):
            out.append(("endpoint", f"{ip}|{port}"))
    return out


def values_of(spec: LogSpec, get: Callable[[str], Any]) -> list[tuple[str, str]]:
    """The ``(kind, raw value)`` pairs of one parsed line, ``get(path)`` giving a field's
    value: a string, a list of strings (multi fields, nested ``[]`` paths), or None.

    Empty and unset values (``-``, ``(empty)``, ``""``) are dropped, and a pair that two
    fields (or one list) carry again is kept once, where it first comes (:func:`distinct`).
    """
    out: list[tuple[str, str]] = []
    for field in spec.fields:
        value = get(field.path)
        items: Sequence[Any] = value if isinstance(value, list | tuple) else (value,)
        for item in items:
            if item is None:
                continue
            text = item if isinstance(item, str) else str(item)
            if text and text not in ("-", "(empty)"):
                out.append((field.kind, text))
    out.extend(derived_values(spec, get))
    return distinct(out)


def distinct(values: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``values`` with each pair once, where it first comes."""
    return list(dict.fromkeys(values)) if len(values) > 1 else values
