"""Stateless, signed TAXII ``next`` cursors.

A cursor carries the keyset position of the last row of a page ``(date_added, seq)``, bound
to the collection, the request's filters and the caller's organisation, and signed with
HMAC-SHA256 under the instance secret. Any replica that shares the secret accepts it, after a
restart too; nothing is kept in memory. A cursor that was altered, signed by another secret,
or presented for another collection, other filters or by another organisation is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import msgspec

from mburoja.errors import MburojaError

_VERSION = 1
_SIG_BYTES = 20


class BadCursor(MburojaError):
    """A ``next`` value this server did not issue for this request."""


class _Payload(msgspec.Struct, array_like=True, frozen=True):
    version: int
    scope: bytes
    date_added: str
    seq: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def scope_of(*parts: str | None) -> bytes:
    """A digest of what a cursor is bound to (collection, filters, organisation)."""
    joined = "\x1f".join("" if p is None else p for p in parts)
    return hashlib.sha256(joined.encode()).digest()[:16]


class CursorSigner:
    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"mburoja taxii next\x00" + secret.encode()).digest()

    def _sign(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:_SIG_BYTES]

    def issue(self, scope: bytes, date_added: str, seq: int) -> str:
        body = msgspec.msgpack.encode(_Payload(_VERSION, scope, date_added, seq))
        return f"{_b64(body)}.{_b64(self._sign(body))}"

    def open(self, token: str, scope: bytes) -> tuple[str, int]:
        """The keyset position in ``token``; ``BadCursor`` unless it is ours and in scope."""
        body_text, dot, sig_text = token.partition(".")
        if not dot or len(token) > 512:
            raise BadCursor("malformed next cursor")
        try:
            body, sig = _unb64(body_text), _unb64(sig_text)
        except (ValueError, TypeError) as exc:
            raise BadCursor("malformed next cursor") from exc
        if not hmac.compare_digest(sig, self._sign(body)):
            raise BadCursor("next cursor was not issued by this server (bad signature)")
        try:
            payload = msgspec.msgpack.decode(body, type=_Payload)
        except msgspec.DecodeError as exc:
            raise BadCursor("malformed next cursor") from exc
        if payload.version != _VERSION or not hmac.compare_digest(payload.scope, scope):
            raise BadCursor(
                "next cursor belongs to another collection, other filters or another caller"
            )
        return payload.date_added, payload.seq
