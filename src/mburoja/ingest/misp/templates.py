"""MISP object templates as STIX cyber-observables, and the pattern an indicator of each uses.

A template handler takes an object's checked attributes (relation, type, value, uuid, to_ids)
and returns the SCOs for the object plus the pattern terms of its ``to_ids`` attributes, or
None when the object lacks what its template needs (it then becomes a ``x-misp-object``).
Mapped: ``file``, ``email``, ``domain-ip``, ``ip-port``, ``network-connection``, ``url``,
``mutex``, ``asn`` and ``credential``; relations a template does not map are kept on the
SCO as ``x_misp_<relation>``, as misp-stix does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mburoja.ingest.misp.observables import sco, traffic_ref_terms
from mburoja.ingest.misp.values import (
    HASHES,
    Obj,
    address_type,
    as_number,
    custom_segment,
    escape,
    is_number,
    iso_stamp,
    port_number,
    quote_segment,
)

#: One checked object attribute: (relation, type, value, uuid, to_ids).
ObjAttr = tuple[str, str, str, str, bool]
#: An object handler: (object uuid, attributes) -> (SCOs, pattern parts) or None (custom).
ObjectHandler = Callable[[str, list[ObjAttr]], tuple[list[Obj], list[str]] | None]

_FILE_PROPS = {"filename": "name", "file-encoding": "name_enc", "mime-type": "mime_type"}


class _Unmapped:
    """The relations a template does not map: kept on its SCO, and in the pattern if to_ids."""

    __slots__ = ("ids", "values")

    def __init__(self) -> None:
        self.values: dict[str, list[str]] = {}
        self.ids: list[tuple[str, str]] = []

    def keep(self, rel: str, value: str) -> None:
        """Keep ``value`` on the SCO."""
        self.values.setdefault(rel, []).append(value)

    def match(self, rel: str, value: str) -> None:
        """Match ``value`` in the pattern."""
        self.ids.append((rel, value))

    def add(self, rel: str, value: str, ids: bool) -> None:
        """Keep ``value`` on the SCO and, when ``ids``, match it in the pattern."""
        self.keep(rel, value)
        if ids:
            self.match(rel, value)

    def keep_on(self, scope: Obj) -> None:
        """Put the values on an SCO as ``x_misp_<relation>``, one value or a list."""
        for relation, values in self.values.items():
            scope["x_misp_" + relation.replace("-", "_")] = (
                values[0] if len(values) == 1 else values
            )

    def terms(self, prefix: str) -> list[str]:
        """The pattern terms for the ``to_ids`` values, on ``prefix`` (the SCO type)."""
        return [f"{prefix}:{custom_segment(rel)} = '{escape(v)}'" for rel, v in self.ids]


def _file_object(ou: str, attrs: list[ObjAttr]) -> tuple[list[Obj], list[str]] | None:
    file: Obj = sco("file", f"file--{ou}")
    hashes: dict[str, str] = {}
    others: list[Obj] = []
    unmapped = _Unmapped()
    parts: dict[str, list[str]] = {}
    for rel, _kind, value, au, ids in attrs:
        if rel in HASHES and HASHES[rel][0] not in hashes:
            name = HASHES[rel][0]
            hashes[name] = value
            if ids:
                parts.setdefault(rel, []).append(
                    f"file:hashes.{quote_segment(name)} = '{escape(value)}'"
                )
        elif rel in _FILE_PROPS and _FILE_PROPS[rel] not in file:
            file[_FILE_PROPS[rel]] = value
            if ids:
                parts.setdefault(rel, []).append(f"file:{_FILE_PROPS[rel]} = '{escape(value)}'")
        elif rel == "size-in-bytes" and "size" not in file and is_number(value):
            file["size"] = int(value)
            if ids:
                parts.setdefault(rel, []).append(f"file:size = '{value}'")
        elif rel == "path" and "parent_directory_ref" not in file:
            directory_id = f"directory--{au}"
            others.append(sco("directory", directory_id, path=value))
            file["parent_directory_ref"] = directory_id
            if ids:
                parts.setdefault(rel, []).append(
                    f"file:parent_directory_ref.path = '{escape(value)}'"
                )
        else:
            unmapped.add(rel, value, ids)
    if hashes:
        file["hashes"] = hashes
    elif "name" not in file:
        return None
    unmapped.keep_on(file)
    order = (*HASHES, "filename", "file-encoding", "mime-type", "size-in-bytes", "path")
    pattern = [p for rel in order for p in parts.get(rel, ())]
    return [file, *others], pattern + unmapped.terms("file")


_EMAIL_PROPS = {
    "email-body": ("body", "body"),
    "message-id": ("message_id", "message_id"),
    "subject": ("subject", "subject"),
}
_EMAIL_HEADERS = {
    "reply-to": ("Reply-To", "additional_header_fields.reply_to"),
    "x-mailer": ("X-Mailer", "additional_header_fields.x_mailer"),
}


def _email_object(ou: str, attrs: list[ObjAttr]) -> tuple[list[Obj], list[str]] | None:
    message: Obj = sco("email-message", f"email-message--{ou}", is_multipart=False)
    addresses: list[Obj] = []
    files: list[Obj] = []
    unmapped = _Unmapped()
    party_parts: list[str] = []
    field_parts: dict[str, str] = {}
    names = {rel: v for rel, _, v, _, _ in attrs if rel.endswith("-display-name")}
    counters = {"to": 0, "cc": 0, "bcc": 0}
    for rel, _kind, value, au, ids in attrs:
        literal = escape(value)
        if rel == "from" and "from_ref" not in message:
            address = sco("email-addr", f"email-addr--{au}", value=value)
            if "from-display-name" in names:
                address["display_name"] = names["from-display-name"]
            addresses.append(address)
            message["from_ref"] = address["id"]
            if ids:
                field_parts["from"] = f"email-message:from_ref.value = '{literal}'"
        elif rel in counters:
            address = sco("email-addr", f"email-addr--{au}", value=value)
            addresses.append(address)
            message.setdefault(f"{rel}_refs", []).append(address["id"])
            if ids:
                party_parts.append(f"email-message:{rel}_refs[{counters[rel]}].value = '{literal}'")
                counters[rel] += 1
        elif rel in _EMAIL_PROPS and _EMAIL_PROPS[rel][0] not in message:
            prop, path = _EMAIL_PROPS[rel]
            message[prop] = value
            if ids:
                field_parts[rel] = f"email-message:{path} = '{literal}'"
        elif rel in _EMAIL_HEADERS:
            header, path = _EMAIL_HEADERS[rel]
            message.setdefault("additional_header_fields", {})[header] = value
            if ids:
                field_parts[rel] = f"email-message:{path} = '{literal}'"
        elif rel in ("attachment", "screenshot"):
            file_id = f"file--{au}"
            files.append(sco("file", file_id, name=value))
            message["is_multipart"] = True
            message.setdefault("body_multipart", []).append(
                {"content_disposition": f"{rel}; filename='{value}'", "body_raw_ref": file_id}
            )
        elif rel.endswith("-display-name") and rel in ("from-display-name", "to-display-name"):
            continue
        else:
            unmapped.add(rel, value, ids)
    unmapped.keep_on(message)
    order = ("email-body", "from", "message-id", "reply-to", "subject", "x-mailer")
    pattern = party_parts + [field_parts[k] for k in order if k in field_parts]
    return [message, *addresses, *files], pattern + unmapped.terms("email-message")


def _domain_ip_object(ou: str, attrs: list[ObjAttr]) -> tuple[list[Obj], list[str]] | None:
    relations = {a[0] for a in attrs}
    if not relations & {"domain", "hostname"}:
        return None
    both = {"domain", "hostname"} <= relations
    ips: list[Obj] = []
    parts: dict[str, list[str]] = {}
    unmapped = _Unmapped()
    for rel, _, value, au, ids in attrs:
        if rel == "ip":
            ips.append(sco(address_type(value), f"{address_type(value)}--{au}", value=value))
            if ids:
                parts.setdefault(rel, []).append(
                    f"domain-name:resolves_to_refs[*].value = '{escape(value)}'"
                )
        elif rel in ("domain", "hostname"):
            if ids:
                field = "x_misp_hostname" if rel == "hostname" and both else "value"
                parts.setdefault(rel, []).append(f"domain-name:{field} = '{escape(value)}'")
        elif ids:
            unmapped.match(rel, value)
    refs = [ip["id"] for ip in ips]
    domains: list[Obj] = []
    if relations <= {"domain", "hostname", "ip"}:
        for rel, _, value, au, _ in attrs:
            if rel in ("hostname", "domain"):
                domain = sco("domain-name", f"domain-name--{au}", value=value)
                if refs:
                    domain["resolves_to_refs"] = refs
                domains.append(domain)
    else:
        names = [a for a in attrs if a[0] == "domain"] or [a for a in attrs if a[0] == "hostname"]
        domain = sco("domain-name", f"domain-name--{ou}", value=names[0][2])
        if refs:
            domain["resolves_to_refs"] = refs
        for rel, _, value, _, _ in attrs:
            if rel not in ("ip", names[0][0]) or (rel == names[0][0] and value != names[0][2]):
                unmapped.keep(rel, value)
        unmapped.keep_on(domain)
        domains.append(domain)
    pattern = [p for rel in ("domain", "hostname", "ip") for p in parts.get(rel, ())]
    return [*ips, *domains], pattern + unmapped.terms("domain-name")


def _traffic_feature(traffic: Obj, prop: str, rel: str, value: str) -> str:
    """Set a port or first/last-seen ``prop`` of a network-traffic; returns its pattern term."""
    traffic[prop] = port_number(value) if rel.endswith("port") else iso_stamp(value)
    return f"network-traffic:{prop} = '{escape(value)}'"


def _ref_part(side: str, kind: str, value: str) -> str:
    """One side's address terms, parenthesised as misp-stix writes them inside an object."""
    return f"({traffic_ref_terms(side, kind, value)})"


def _ip_port_object(ou: str, attrs: list[ObjAttr]) -> tuple[list[Obj], list[str]] | None:
    traffic: Obj = sco("network-traffic", f"network-traffic--{ou}")
    addresses: list[Obj] = []
    protocols: dict[str, None] = {}
    unmapped = _Unmapped()
    parts: dict[str, list[str]] = {}
    features = {"dst-port": "dst_port", "first-seen": "start", "last-seen": "end",
                "src-port": "src_port"}  # fmt: skip
    for rel, _, value, au, ids in attrs:
        if rel in ("ip", "ip-src", "ip-dst"):
            kind = address_type(value)
            side = "src" if rel == "ip-src" else "dst"
            if f"{side}_ref" not in traffic:
                addresses.append(sco(kind, f"{kind}--{au}", value=value))
                traffic[f"{side}_ref"] = f"{kind}--{au}"
                protocols[kind.split("-")[0]] = None
            else:
                unmapped.keep(rel, value)
            if ids:
                parts.setdefault(rel, []).append(_ref_part(side, kind, value))
        elif rel in ("domain", "hostname"):
            unmapped.keep(rel, value)
            if ids:
                parts.setdefault(rel, []).append(_ref_part("dst", "domain-name", value))
        elif rel in features and features[rel] not in traffic:
            term = _traffic_feature(traffic, features[rel], rel, value)
            if ids:
                parts.setdefault(rel, []).append(term)
        elif rel == "protocol":
            protocols[value.lower()] = None
        else:
            unmapped.add(rel, value, ids)
    if "src_ref" not in traffic and "dst_ref" not in traffic:
        return None
    traffic["protocols"] = list(protocols) or ["tcp"]
    unmapped.keep_on(traffic)
    order = ("ip", "ip-src", "ip-dst", "domain", "hostname", *features)
    pattern = [p for rel in order for p in parts.get(rel, ())]
    return [traffic, *addresses], pattern + unmapped.terms("network-traffic")


def _network_connection_object(ou: str, attrs: list[ObjAttr]) -> tuple[list[Obj], list[str]] | None:
    traffic: Obj = sco("network-traffic", f"network-traffic--{ou}")
    refs: list[Obj] = []
    protocols: list[str] = []
    unmapped = _Unmapped()
    ref_parts: dict[str, list[str]] = {}
    feature_parts: dict[str, str] = {}
    features = {"dst-port": "dst_port", "first-packet-seen": "start", "src-port": "src_port"}
    by_rel = {a[0]: a for a in attrs}
    for rel, _, value, au, ids in attrs:
        if rel in ("ip-src", "ip-dst", "hostname-src", "hostname-dst"):
            side = rel[-3:]
            is_ip = rel.startswith("ip")
            if f"{side}_ref" in traffic or (not is_ip and f"ip-{side}" in by_rel):
                unmapped.keep(rel, value)
            else:
                kind = address_type(value) if is_ip else "domain-name"
                refs.append(sco(kind, f"{kind}--{au}", value=value))
                traffic[f"{side}_ref"] = f"{kind}--{au}"
            if ids:
                kind = address_type(value) if is_ip else "domain-name"
                ref_parts.setdefault(side, []).append(_ref_part(side, kind, value))
        elif rel in features and features[rel] not in traffic:
            term = _traffic_feature(traffic, features[rel], rel, value)
            if ids:
                feature_parts[rel] = term
        elif rel in ("layer3-protocol", "layer4-protocol", "layer7-protocol"):
            protocols.append(value.lower())
        else:
            unmapped.add(rel, value, ids)
    if "src_ref" not in traffic and "dst_ref" not in traffic:
        return None
    traffic["protocols"] = protocols or ["tcp"]
    unmapped.keep_on(traffic)
    pattern = [p for side in ("src", "dst") for p in ref_parts.get(side, ())]
    pattern += [feature_parts[k] for k in features if k in feature_parts]
    if any(a[4] for a in attrs if a[0].startswith("layer")):
        pattern += [f"network-traffic:protocols[{i}] = '{p}'" for i, p in enumerate(protocols)]
    return [traffic, *refs], pattern + unmapped.terms("network-traffic")


def _simple_object(kind: str, main: dict[str, tuple[str, Callable[[str], Any]]]) -> ObjectHandler:
    """A handler for a template that is one SCO with a few mapped relations (url, mutex...)."""

    def handle(ou: str, attrs: list[ObjAttr]) -> tuple[list[Obj], list[str]] | None:
        obj: Obj = sco(kind, f"{kind}--{ou}")
        unmapped = _Unmapped()
        parts: dict[str, list[str]] = {}
        for rel, _, value, _, ids in attrs:
            if rel in main and main[rel][0] not in obj:
                prop, convert = main[rel]
                obj[prop] = convert(value)
                if ids:
                    parts.setdefault(rel, []).append(f"{kind}:{prop} = '{escape(str(obj[prop]))}'")
            else:
                unmapped.add(rel, value, ids)
        if not any(prop in obj for prop, _ in main.values()):
            return None
        unmapped.keep_on(obj)
        pattern = [p for rel in main for p in parts.get(rel, ())]
        return [obj], pattern + unmapped.terms(kind)

    return handle


def _text(value: str) -> str:
    return value


OBJECT_TEMPLATES: dict[str, ObjectHandler] = {
    "file": _file_object,
    "email": _email_object,
    "domain-ip": _domain_ip_object,
    "ip-port": _ip_port_object,
    "network-connection": _network_connection_object,
    "url": _simple_object("url", {"url": ("value", _text)}),
    "mutex": _simple_object("mutex", {"name": ("name", _text)}),
    "asn": _simple_object("autonomous-system", {"asn": ("number", as_number),
                                                 "description": ("name", _text)}),
    "credential": _simple_object("user-account", {"username": ("user_id", _text),
                                                  "password": ("credential", _text)}),
}  # fmt: skip
