"""Ed25519 instance keys and detached signatures on STIX objects.

Why detached, and why per object: a hub relays objects it did not write. If each object
carries its origin's signature over its own canonical form, a third instance can check that
what the hub relayed is exactly what the origin sent, whatever envelope it arrived in.

The signatures travel in an extra envelope property, ``x_mburoja_signatures``. A plain TAXII
peer reads only ``objects`` and ignores it; the objects themselves stay byte for byte as
stored, so signing never alters what is shared.

What is signed is ``canonical(obj)``: compact JSON, keys sorted at every level. Its limits:

- Numbers are re-serialised by orjson: ``1`` stays ``1``, ``1.0`` stays ``1.0`` and ``1E2``
  becomes ``100.0``. The signature covers the parsed value, not the sender's spelling, so
  sender and receiver must both parse the object with orjson (as Mburoja does).
- Integers outside the signed/unsigned 64-bit range, non-finite floats, non-string keys,
  and values that are not plain JSON types are refused (``CanonicalError``) rather than
  silently changed: orjson would write NaN as ``null``, and would parse a 65-bit integer
  as a float, so signing such a value would certify something the sender never had.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import os
import stat
import threading
from pathlib import Path
from typing import Annotated, Any

import msgspec
import orjson
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mburoja.errors import ConfigError, MburojaError, Terminal

KEY_FILE = "instance-ed25519.pem"
SIGNATURES_PROPERTY = "x_mburoja_signatures"
_RAW_PUBLIC_LEN = 32
_RAW_SIGNATURE_LEN = 64
# Only plain JSON types reach orjson; anything it would convert on its own is refused.
_DUMP_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


class CanonicalError(MburojaError, Terminal):
    """An object holds a value that has no single canonical JSON form; it cannot be signed."""


# -- keys ------------------------------------------------------------------------------------


def key_path(data_dir: str | Path) -> Path:
    """Where the instance key lives: beside the store, in ``<data_dir>/instance-ed25519.pem``."""
    return Path(data_dir) / KEY_FILE


def init_key(data_dir: str | Path) -> tuple[Ed25519PrivateKey, bool]:
    """The instance key, created if missing, and whether this call created it.

    An existing key is never overwritten: peers trust its public half, and replacing it
    would make every signature this instance made unverifiable for them.
    """
    path = key_path(data_dir)
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        if _write_new(path, key):
            return key, True
    return load_key(data_dir), False


class InstanceKey:
    """The instance's Ed25519 key, read (or created) the first time it is needed, so that a
    server without peers never touches the key file."""

    def __init__(self, data_dir: str) -> None:
        self.data_dir = data_dir
        self._key: Ed25519PrivateKey | None = None
        self._lock = threading.Lock()

    @property
    def private(self) -> Ed25519PrivateKey:
        with self._lock:
            if self._key is None:
                self._key = load_or_create_key(self.data_dir)
            return self._key


def load_or_create_key(data_dir: str | Path) -> Ed25519PrivateKey:
    """The instance key, created (mode 0600) on first use."""
    return init_key(data_dir)[0]


def load_key(data_dir: str | Path) -> Ed25519PrivateKey:
    """The existing instance key. Refuses a missing key, one that others may read, and a
    file that is not an unencrypted PKCS8 Ed25519 key, each time saying how to fix it."""
    path = key_path(data_dir)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(
            f"no instance key at {path}: run `mburoja key init` (with the same --data-dir)"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"refusing the instance key {path}: its mode {stat.S_IMODE(mode):o} lets other "
            f"users read it; run `chmod 600 {path}`"
        )
    return _parse_private(path, path.read_bytes())


def _write_new(path: Path, key: Ed25519PrivateKey) -> bool:
    """Write ``key`` to a new file created 0600 with O_EXCL; False if another process won."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
        fh.flush()
        os.fsync(fh.fileno())
    return True


def _parse_private(path: Path, pem: bytes) -> Ed25519PrivateKey:
    how = (
        "restore it from a backup, or move it aside and run `mburoja key init` "
        "(peers must then be given the new public key)"
    )
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ConfigError(
            f"the instance key {path} is not an unencrypted PKCS8 PEM key ({exc}); {how}"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"the instance key {path} is not an Ed25519 key; {how}")
    return key


def _raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The public key as peers configure it: standard base64 of its 32 raw bytes."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return base64.b64encode(_raw_public(public)).decode("ascii")


def parse_public_key(text: str) -> Ed25519PublicKey:
    """A peer's public key from its ``public_key_text`` form; ConfigError saying what is wrong."""
    hint = "expected the output of `mburoja key show` on that instance (44 base64 characters)"
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"the public key {text!r} is not base64; {hint}") from None
    if len(raw) != _RAW_PUBLIC_LEN:
        raise ConfigError(
            f"the public key {text!r} is {len(raw)} bytes, an Ed25519 key is "
            f"{_RAW_PUBLIC_LEN}; {hint}"
        )
    return Ed25519PublicKey.from_public_bytes(raw)


def key_id(public: Ed25519PublicKey) -> str:
    """A short, stable name for a public key, used as the ``origin`` of signatures."""
    return "ed25519:" + hashlib.sha256(_raw_public(public)).hexdigest()[:16]


# -- canonical form --------------------------------------------------------------------------


def canonical(obj: dict[str, Any]) -> bytes:
    """The bytes that are signed: compact UTF-8 JSON, keys sorted at every level.

    Raises ``CanonicalError`` for values with no faithful canonical form (see the module
    docstring) instead of signing a changed value.
    """
    try:
        _check_floats(obj)
        return orjson.dumps(obj, option=_DUMP_OPTIONS)
    except RecursionError:
        raise CanonicalError(f"object {_name(obj)} is nested too deeply to sign") from None
    except TypeError as exc:
        raise CanonicalError(f"object {_name(obj)} cannot be canonicalised: {exc}") from None


def _check_floats(value: Any) -> None:
    """Refuse NaN and infinities, which orjson would quietly write as ``null``."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CanonicalError(f"a number is {value}, which JSON cannot represent")
    elif isinstance(value, dict):
        for item in value.values():
            _check_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_floats(item)


def _name(obj: dict[str, Any]) -> str:
    ident = obj.get("id")
    return ident if isinstance(ident, str) else "(without an id)"


# -- signatures ------------------------------------------------------------------------------

_Origin = Annotated[str, msgspec.Meta(pattern=r"^ed25519:[0-9a-f]{16}$")]
_Signature = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9+/]{86}==$")]


class ObjectSignature(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    """A detached signature on one version of one object, by the instance that wrote it.

    ``version`` is the object's ``modified``, else ``created``, else "" (SCOs are not
    versioned). The field patterns are checked when signatures are read from an envelope.
    """

    object_id: Annotated[str, msgspec.Meta(min_length=1)]
    version: str
    origin: _Origin
    signature: _Signature


def object_version(obj: dict[str, Any]) -> str:
    """The version a signature names: ``modified``, else ``created``, else ""."""
    for field in ("modified", "created"):
        value = obj.get(field)
        if isinstance(value, str):
            return value
    return ""


def sign(key: Ed25519PrivateKey, obj: dict[str, Any]) -> ObjectSignature:
    """Sign ``canonical(obj)``; the object must have a string ``id``."""
    object_id = obj.get("id")
    if not isinstance(object_id, str) or not object_id:
        raise CanonicalError("cannot sign an object without a string 'id'")
    signature = key.sign(canonical(obj))
    return ObjectSignature(
        object_id=object_id,
        version=object_version(obj),
        origin=key_id(key.public_key()),
        signature=base64.b64encode(signature).decode("ascii"),
    )


def verify(public: Ed25519PublicKey, obj: dict[str, Any], sig: ObjectSignature) -> bool:
    """Whether ``sig`` is ``public``'s signature on exactly ``obj``.

    False, never an exception, for anything that does not check out: another object or
    version, another origin, a malformed signature, or an object with no canonical form.
    A receiver treats all of these the same way: the object is not proven.
    """
    if sig.object_id != obj.get("id") or sig.version != object_version(obj):
        return False
    if sig.origin != key_id(public):
        return False
    try:
        raw = base64.b64decode(sig.signature, validate=True)
        public.verify(raw, canonical(obj))
    except (binascii.Error, ValueError, InvalidSignature, CanonicalError):
        return False
    return True


# -- envelope carriage -----------------------------------------------------------------------


class _AnyObject(msgspec.Struct):
    """Decodes any JSON object without keeping its fields: a cheap 'is this an object' check."""


class _Carrier(msgspec.Struct):
    # an empty Raw means the property is absent (msgspec cannot union Raw with None)
    x_mburoja_signatures: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)


class SignatureIndex(msgspec.Struct, frozen=True):
    """The signatures read from an envelope, by (object id, version), and how many entries
    were malformed and skipped (a receiver counts them rather than failing the envelope)."""

    by_object: dict[tuple[str, str], list[ObjectSignature]]
    malformed: int = 0


_any_object = msgspec.json.Decoder(_AnyObject)
_carrier = msgspec.json.Decoder(_Carrier)
_raw_list = msgspec.json.Decoder(list[msgspec.Raw])
_signature = msgspec.json.Decoder(ObjectSignature)


def with_signatures(
    objects: list[bytes], sigs: list[ObjectSignature], extra: dict[str, bytes] | None = None
) -> bytes:
    """A TAXII envelope of ``objects`` (their exact bytes, spliced in) with ``sigs`` beside,
    and ``extra`` envelope properties (already JSON) after them.

    Each object is checked to be one JSON object, so a bad item cannot break the envelope.
    """
    for index, raw in enumerate(objects):
        try:
            _any_object.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise CanonicalError(f"objects[{index}] is not a JSON object: {exc}") from None
    return b"".join(
        (
            b'{"objects":[',
            b",".join(objects),
            b'],"',
            SIGNATURES_PROPERTY.encode("ascii"),
            b'":',
            msgspec.json.encode(sigs),
            *(
                b',"' + name.encode("ascii") + b'":' + value
                for name, value in (extra or {}).items()
            ),
            b"}",
        )
    )


def signatures_in(envelope: bytes) -> SignatureIndex:
    """The signatures an envelope carries. None at all (a plain TAXII peer) is an empty index.

    Raises ``CanonicalError`` only when the envelope itself is not a JSON object.
    """
    try:
        carrier = _carrier.decode(envelope)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
        raise CanonicalError(f"the envelope is not a JSON object: {exc}") from None
    if not carrier.x_mburoja_signatures:
        return SignatureIndex(by_object={})
    try:
        entries = _raw_list.decode(carrier.x_mburoja_signatures)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return SignatureIndex(by_object={}, malformed=1)
    by_object: dict[tuple[str, str], list[ObjectSignature]] = {}
    malformed = 0
    for entry in entries:
        try:
            sig = _signature.decode(entry)
        except (msgspec.DecodeError, msgspec.ValidationError):
            malformed += 1
            continue
        by_object.setdefault((sig.object_id, sig.version), []).append(sig)
    return SignatureIndex(by_object=by_object, malformed=malformed)
