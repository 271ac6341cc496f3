"""MISP attribute types as STIX cyber-observables, and the pattern an indicator of each uses.

One handler per type family (addresses, domains, hashes, e-mail, registry keys, ...), looked
up in ``OBSERVABLE_TYPES``: it checks the value, builds the SCOs with ids from the attribute's
uuid (``domain-name--<uuid>``), and writes the STIX pattern misp-stix would when ``to_ids``
is set. Types with no SCO of their own have only a pattern (``INDICATOR_ONLY_PATTERNS``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mburoja.ingest.misp.values import (
    HASHES,
    Obj,
    address_type,
    as_number,
    check_hash,
    email_address,
    escape,
    mac_address,
    port_number,
    quote_segment,
    regkey_literal,
    split_pair,
)

#: An attribute handler: (uuid, value, type, to_ids) -> (SCOs, pattern or None).
AttributeHandler = Callable[[str, str, str, bool], tuple[list[Obj], str | None]]


def sco(kind: str, sco_id: str, **props: Any) -> Obj:
    """A STIX cyber-observable of ``kind`` with the given id and properties."""
    return {"type": kind, "spec_version": "2.1", "id": sco_id, **props}


def _single(kind: str, prop: str, path: str) -> AttributeHandler:
    """A handler for a type that is one property of one SCO (domain, url, mutex, ...)."""

    def handle(u: str, v: str, t: str, ids: bool) -> tuple[list[Obj], str | None]:
        pattern = f"[{kind}:{path} = '{escape(v)}']" if ids else None
        return [sco(kind, f"{kind}--{u}", **{prop: v})], pattern

    return handle


def traffic_ref_terms(side: str, kind: str, value: str) -> str:
    """Pattern terms matching the address (or domain) a ``network-traffic`` has on one side."""
    return (
        f"network-traffic:{side}_ref.type = '{kind}' AND "
        f"network-traffic:{side}_ref.value = '{escape(value)}'"
    )


def _ip(u: str, v: str, t: str, ids: bool) -> tuple[list[Obj], str | None]:
    addr = address_type(v)
    side = "src" if t == "ip-src" else "dst"
    addr_id = f"{addr}--{u}"
    traffic = sco("network-traffic", f"network-traffic--{u}", protocols=["tcp"])
    traffic[f"{side}_ref"] = addr_id
    pattern = f"[{traffic_ref_terms(side, addr, v)}]" if ids else None
    return [traffic, sco(addr, addr_id, value=v)], pattern


def _ip_port(u: str, v: str, t: str, ids: bool) -> tuple[list[Obj], str | None]:
    ip, port = split_pair(v, t)
    addr = address_type(ip)
    number = port_number(port)
    side = "src" if t == "ip-src|port" else "dst"
    addr_id = f"{addr}--{u}"
    traffic = sco("network-traffic", f"network-traffic--{u}")
    traffic[f"{side}_ref"] = addr_id
    traffic[f"{side}_port"] = number
    traffic["protocols"] = ["tcp"]
    pattern = None
    if ids:
        terms = traffic_ref_terms(side, addr, ip)
        pattern = f"[{terms} AND network-traffic:{side}_port = '{number}']"
    return [traffic, sco(addr, addr_id, value=ip)], pattern


def _domain_ip(u: str, v: str, t: str, ids: bool) -> tuple[list[Obj], str | None]:
    domain, ip = split_pair(v, t)
    addr = address_type(ip)
    addr_id = f"{addr}--{u}"
    objects = [
        sco("domain-name", f"domain-name--{u}", value=domain, resolves_to_refs=[addr_id]),
        sco(addr, addr_id, value=ip),
    ]
    pattern = None
    if ids:
        pattern = (
            f"[domain-name:value = '{escape(domain)}' AND "
            f"domain-name:resolves_to_refs[*].value = '{escape(ip)}']"
        )
    return objects, pattern


def _hostname_port(u: str, v: str, t: str, ids: bool) -> tuple[list[Obj], str | None]:
    host, port = split_pair(v, t)
    number = port_number(port)
    domain_id = f"domain-name--{u}"
    objects = [
        sco("domain-name", domain_id, value=host),
        sco(
            "network-traffic", f"network-traffic--{u}",
            dst_port=number, dst_ref=domain_id, protocols=["tcp"],
        ),
    ]  # fmt: skip
    pattern = None
    if ids:
        pattern = (
            f"[domain-name:value = '{escape(host)}' AND network-traffic:dst_port = '{number}']"
        )
    return objects, pattern


def _autonomous_system(u: str, v: str, t: str, ids: bool) -> tuple[list[Obj], str | None]:
    number = as_number(v)
    pattern = f"[autonomous-system:number = '{number}']" if ids else None
    return [sco("autonomous-system", f"autonomous-system--{u}", number=number)], pattern


def _hash(u: str, v: str, t: str, ids: bool) -> tuple[list[Obj], str | None]:
    name = check_hash(t, v)
    pattern = f"[file:hashes.{quote_segment(name)} = '{escape(v)}']" if ids else None
    return [sco("file", f"file--{u}", hashes={name: v})], pattern


def _filename_hash(u: str, v: str, t: str, ids: bool) -> tuple[list[Obj], str | None]:
    filename, digest = split_pair(v, t)
    kind = "md5" if t == "malware-sample" else t.partition("|")[2]
    name = check_hash(kind, digest)
    pattern = None
    if ids:
        pattern = (
            f"[file:name = '{escape(filename)}' AND "
            f"file:hashes.{quote_segment(name)} = '{escape(digest)}']"
        )
    return [sco("file", f"file--{u}", name=filename, hashes={name: digest})], pattern


def _mac(u: str, v: str, t: str, ids: bool) -> tuple[list[Obj], str | None]:
    mac = mac_address(v)
    pattern = f"[mac-addr:value = '{mac}']" if ids else None
    return [sco("mac-addr", f"mac-addr--{u}", value=mac)], pattern


def _email_addr(u: str, v: str, t: str, ids: bool) -> tuple[list[Obj], str | None]:
    address = email_address(v)
    pattern = f"[email-addr:value = '{escape(address)}']" if ids else None
    return [sco("email-addr", f"email-addr--{u}", value=address)], pattern


def _email_party(u: str, v: str, t: str, ids: bool) -> tuple[list[Obj], str | None]:
    address = email_address(v)
    addr_id = f"email-addr--{u}"
    message = sco("email-message", f"email-message--{u}", is_multipart=False)
    if t == "email-src":
        message["from_ref"] = addr_id
        path = "from_ref.value"
    else:
        message["to_refs"] = [addr_id]
        path = "to_refs[*].value"
    pattern = f"[email-message:{path} = '{escape(address)}']" if ids else None
    return [message, sco("email-addr", addr_id, value=address)], pattern


#: MISP e-mail type -> (email-message property, how its value is held, pattern path).
_EMAIL_FIELDS: dict[str, tuple[str, str, str]] = {
    "email-subject": ("subject", "str", "subject"),
    "email-body": ("body", "str", "body"),
    "email-header": ("received_lines", "list", "received_lines"),
    "email-reply-to": ("Reply-To", "header", "additional_header_fields.reply_to"),
    "email-x-mailer": ("X-Mailer", "header", "additional_header_fields.x_mailer"),
    "email-message-id": ("message_id", "str", "message_id"),
}


def _email_field(u: str, v: str, t: str, ids: bool) -> tuple[list[Obj], str | None]:
    prop, shape, path = _EMAIL_FIELDS[t]
    message = sco("email-message", f"email-message--{u}", is_multipart=False)
    if shape == "str":
        message[prop] = v
    elif shape == "list":
        message[prop] = [v]
    else:
        message["additional_header_fields"] = {prop: v}
    pattern = f"[email-message:{path} = '{escape(v)}']" if ids else None
    return [message], pattern


def _email_attachment(u: str, v: str, t: str, ids: bool) -> tuple[list[Obj], str | None]:
    file_id = f"file--{u}"
    part = {"content_disposition": f"attachment; filename='{v}'", "body_raw_ref": file_id}
    objects = [
        sco("email-message", f"email-message--{u}", is_multipart=True, body_multipart=[part]),
        sco("file", file_id, name=v),
    ]
    pattern = None
    if ids:
        pattern = f"[email-message:body_multipart[*].body_raw_ref.name = '{escape(v)}']"
    return objects, pattern


def _regkey(u: str, v: str, t: str, ids: bool) -> tuple[list[Obj], str | None]:
    pattern = f"[windows-registry-key:key = '{regkey_literal(v)}']" if ids else None
    return [sco("windows-registry-key", f"windows-registry-key--{u}", key=v.strip())], pattern


def _regkey_value(u: str, v: str, t: str, ids: bool) -> tuple[list[Obj], str | None]:
    key, data = split_pair(v, t)
    obj = sco(
        "windows-registry-key", f"windows-registry-key--{u}",
        key=key.strip(), values=[{"data": data.strip()}],
    )  # fmt: skip
    pattern = None
    if ids:
        pattern = (
            f"[windows-registry-key:key = '{regkey_literal(key)}' AND "
            f"windows-registry-key:values.data = '{escape(data.strip())}']"
        )
    return [obj], pattern


def _x509(u: str, v: str, t: str, ids: bool) -> tuple[list[Obj], str | None]:
    digest = "".join(c for c in v if c.isalnum())
    name = check_hash(t.rpartition("-")[2], digest)
    pattern = f"[x509-certificate:hashes.{quote_segment(name)} = '{digest}']" if ids else None
    return [sco("x509-certificate", f"x509-certificate--{u}", hashes={name: digest})], pattern


#: Attribute types that become observed-data + SCOs (and an indicator when to_ids).
OBSERVABLE_TYPES: dict[str, AttributeHandler] = {
    "AS": _autonomous_system,
    "domain": _single("domain-name", "value", "value"),
    "hostname": _single("domain-name", "value", "value"),
    "domain|ip": _domain_ip,
    "hostname|port": _hostname_port,
    "ip-src": _ip,
    "ip-dst": _ip,
    "ip-src|port": _ip_port,
    "ip-dst|port": _ip_port,
    "url": _single("url", "value", "value"),
    "uri": _single("url", "value", "value"),
    "link": _single("url", "value", "value"),
    "email": _email_addr,
    "email-src": _email_party,
    "email-dst": _email_party,
    "email-attachment": _email_attachment,
    "filename": _single("file", "name", "name"),
    "attachment": _single("file", "name", "name"),
    "malware-sample": _filename_hash,
    "mac-address": _mac,
    "mutex": _single("mutex", "name", "name"),
    "regkey": _regkey,
    "regkey|value": _regkey_value,
    **dict.fromkeys(HASHES, _hash),
    **dict.fromkeys((f"filename|{h}" for h in HASHES), _filename_hash),
    **dict.fromkeys(_EMAIL_FIELDS, _email_field),
    **dict.fromkeys(
        ("x509-fingerprint-md5", "x509-fingerprint-sha1", "x509-fingerprint-sha256"), _x509
    ),
}

#: Types that have no SCO of their own: an indicator when to_ids, else a custom attribute
#: (e-mail message ids are an observable when not to_ids, as misp-stix does).
INDICATOR_ONLY_PATTERNS: dict[str, str] = {
    "user-agent": (
        "network-traffic:extensions.'http-request-ext'.request_header.'User-Agent' = '{}'"
    ),
    "http-method": "network-traffic:extensions.'http-request-ext'.request_method = '{}'",
    "port": "network-traffic:dst_port = '{}'",
    "size-in-bytes": "file:size = '{}'",
    "email-message-id": "email-message:message_id = '{}'",
}
