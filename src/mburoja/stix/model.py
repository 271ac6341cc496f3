"""Frozen value types shared by the model, the store and the ingest stages.

The STIX object itself stays what it is, JSON: ``raw`` holds its exact bytes as received and
``data`` the parsed form. Everything the store needs to index is lifted out once, here, into
typed fields, so no layer below passes ``dict[str, Any]`` except the STIX data itself.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Level = Literal["error", "warning"]


class Issue(msgspec.Struct, frozen=True):
    """One finding of the validator: which field, and why."""

    level: Level
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.level}: {self.field}: {self.reason}"


class Observable(msgspec.Struct, frozen=True, order=True):
    """An indexed value. ``value`` is normalised for exact lookup (see ``stix.observables``).

    ``kind`` names what the value is: ``ipv4``, ``ipv6``, ``ipv4-net``, ``ipv6-net``,
    ``domain``, ``url``, ``email``, ``md5``, ``sha1``, ``sha256``, ``sha512``, ``hash``,
    ``asn``, ``mac``, ``file-name``, ``mutex``, ``windows-registry-key``, ``user-account``,
    ``x509-serial``, ``ja3`` and so on: the STIX type or hash algorithm, lower-case.
    """

    kind: str
    value: str


class RawObject(msgspec.Struct, frozen=True):
    """One object as it arrived, before validation.

    ``origin`` names the input (a path, a URL, ``stdin`` or ``api``), ``index`` its place in
    it (position in a bundle, MISP attribute number, line number). ``derived`` is true for
    objects a converter made (MISP, IOC lists, STIX 2.0 upgrade): for those, a re-ingest that
    differs only in ``created``/``modified`` is "unchanged".
    """

    raw: bytes
    origin: str
    index: int
    derived: bool = False


class Reject(msgspec.Struct, frozen=True):
    """An input item that will not be stored, with the precise reason. It goes to quarantine."""

    origin: str
    index: int
    object_id: str | None
    field: str
    reason: str
    raw: bytes

    def __str__(self) -> str:
        oid = f" {self.object_id}" if self.object_id else ""
        return f"{self.origin}[{self.index}]{oid}: {self.field}: {self.reason}"


class PreparedObject(msgspec.Struct, frozen=True, array_like=True):
    """A valid object with everything the store indexes lifted out of it.

    ``version`` is the object's own version string as given (``modified``, else ``created``,
    else empty for SCOs), ``version_key`` its normalised sortable form (see
    ``stix.timestamps.version_key``). ``markings`` is ``object_marking_refs`` joined by
    spaces and ``tlp`` the strictest TLP level among them. ``name`` is a display name;
    ``chash`` the content fingerprint (``stix.fingerprint``). ``refs`` pairs each reference
    property with the id it names.

    The parsed JSON is not kept: ``raw`` is the object. This value crosses process
    boundaries (``array_like`` for compact msgpack), and its first ``ROW_FIELDS`` fields are
    in the order the store writes them, so a row is one slice of ``astuple``.
    """

    id: str
    type: str
    version: str
    version_key: str
    spec_version: str
    revoked: bool
    tlp: str | None
    markings: str | None
    created_by: str | None
    name: str | None
    chash: bytes
    raw: bytes
    refs: tuple[tuple[str, str], ...]
    observables: tuple[Observable, ...]
    warnings: tuple[Issue, ...]
    origin: str
    index: int
    #: the bytes need the policy's closer look (``policy.needs_inspection``); computed while
    #: preparing, so the store's serialised write does not spend time on it
    inspect: bool
    derived: bool = False


#: How many leading fields of ``PreparedObject`` are stored as columns, in that order.
ROW_FIELDS = 12
