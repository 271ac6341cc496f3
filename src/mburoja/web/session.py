"""Signed session cookies: who is signed in, until when, and the session's CSRF token.

A cookie is ``base64url(JSON) "." base64url(HMAC-SHA256)`` under a key derived from the
instance secret, so any replica with the same secret accepts it and nobody can forge or
alter one. A session is bound to the user's password hash: setting a new password ends
older sessions. Signing out forgets the session id in this process (until it would have
expired) and clears the cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time

import msgspec

_CONTEXT = b"mburoja web session v1"


class Session(msgspec.Struct, frozen=True, kw_only=True):
    """``user_id`` None: a visitor who is not signed in (it still has a CSRF token, for the
    sign-in form)."""

    sid: str
    csrf: str
    expires: int  # Unix time
    user_id: str | None = None
    bound: str = ""  # a digest of the password hash the session was made under

    def valid_csrf(self, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(self.csrf, str(presented))


def binding(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Issues and reads session cookies; remembers sessions signed out in this process."""

    def __init__(self, secret: str, lifetime_s: int) -> None:
        self._key = hmac.new(secret.encode(), _CONTEXT, hashlib.sha256).digest()
        self.lifetime_s = lifetime_s
        self._ended: dict[str, int] = {}
        self._lock = threading.Lock()

    def new(self, user_id: str | None = None, bound: str = "") -> Session:
        return Session(
            sid=secrets.token_urlsafe(16),
            csrf=secrets.token_urlsafe(32),
            expires=int(time.time()) + self.lifetime_s,
            user_id=user_id,
            bound=bound,
        )

    def dump(self, session: Session) -> str:
        body = _b64(msgspec.json.encode(session))
        return f"{body}.{self._mac(body)}"

    def load(self, cookie: str | None) -> Session | None:
        """The session in ``cookie``; None when absent, forged, expired or signed out."""
        if not cookie or len(cookie) > 4096 or cookie.count(".") != 1:
            return None
        body, mac = cookie.split(".")
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        try:
            session = msgspec.json.decode(_unb64(body), type=Session)
        except (ValueError, msgspec.DecodeError):
            return None
        if session.expires <= time.time():
            return None
        with self._lock:
            if session.sid in self._ended:
                return None
        return session

    def end(self, session: Session) -> None:
        now = int(time.time())
        with self._lock:
            self._ended = {sid: until for sid, until in self._ended.items() if until > now}
            self._ended[session.sid] = session.expires

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest())
