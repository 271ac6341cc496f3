"""One error tree for all of Mburoja.

::

    MburojaError
    ├── ConfigError                  bad settings file, variable or flag (terminal)
    ├── StixError                    the model layer
    │   └── ValidationError          an object breaks STIX 2.1 (carries the issues)
    ├── StoreError                   the store layer
    │   ├── StoreUnavailable         cannot reach the database (transient)
    │   ├── SchemaError              database not initialised or at the wrong revision
    │   └── NotFound                 no such object, collection or quarantine entry
    └── IngestError                  the ingest layer
        ├── InputTooLarge            size, depth or object-count limit exceeded
        ├── InputFormatError         the input is not in the format it claims to be
        └── FetchError               an http(s) fetch failed
            ├── FetchRefused         refused by policy (scheme, private address) (terminal)
            └── FetchTransient       a time-out or a 5xx that may pass (transient)

Every error may also carry one of the retry markers, ``Transient`` or ``Terminal``: a caller
that retries (feeds, federation) asks ``isinstance(err, Transient)`` and nothing else.
HTTP status codes are chosen only at the HTTP edge (``mburoja.api``).

Messages name the input, the place and the reason, and where the user can fix the problem
they say how.
"""

from __future__ import annotations


class Transient:
    """Marker: the same call may succeed later; retry with backoff."""


class Terminal:
    """Marker: retrying the same call will fail the same way."""


class MburojaError(Exception):
    """Root of every error Mburoja raises on purpose."""


class ConfigError(MburojaError, Terminal):
    """The settings are wrong; the message says which setting and how to fix it."""


class StixError(MburojaError):
    """The model layer."""


class ValidationError(StixError, Terminal):
    """An object is not valid STIX 2.1."""

    def __init__(self, message: str, issues: list[object] | None = None) -> None:
        super().__init__(message)
        self.issues = issues or []


class StoreError(MburojaError):
    """The store layer."""


class StoreUnavailable(StoreError, Transient):
    """The database cannot be reached right now."""


class SchemaError(StoreError, Terminal):
    """The database is not initialised, or is at a revision this code does not know."""


class NotFound(StoreError, Terminal):
    """No such object, collection or quarantine entry."""


class IngestError(MburojaError):
    """The ingest layer."""


class InputTooLarge(IngestError, Terminal):
    """An input exceeds a configured limit (bytes, JSON depth or objects per bundle)."""


class InputFormatError(IngestError, Terminal):
    """The input is not in the format it claims to be."""


class FetchError(IngestError):
    """Fetching an http(s) URL failed. ``status`` is the HTTP status of the answer, when
    there was one."""

    status: int | None = None


class FetchRefused(FetchError, Terminal):
    """The fetch was refused by policy: scheme, private address, or a redirect rule."""


class FetchTransient(FetchError, Transient):
    """A time-out, connection reset or 5xx answer that may pass."""


class Conflict(StoreError, Terminal):
    """The request clashes with what is stored: a name taken, a second home organisation."""


class AccessError(MburojaError, Terminal):
    """The policy layer: who may do what."""


class Unauthenticated(AccessError):
    """No credentials, or credentials that are wrong, expired, revoked or disabled."""


class Forbidden(AccessError):
    """Authenticated, but this account may not do this."""
