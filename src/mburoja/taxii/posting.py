"""TAXII ``POST .../objects/``: an envelope in, a status resource out.

The envelope is checked for shape at once (422 if it is not one); its objects then go
through the ordinary ingest pipeline, owned by the caller's organisation and added to the
collection. Small envelopes are processed before the answer; larger ones in the background,
their status showing ``pending`` counts that fall as batches commit. At every moment
``success_count + failure_count + pending_count == total_count``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgspec
import orjson

from mburoja.config import Settings
from mburoja.ingest.pipeline import Ingestor, IngestReport
from mburoja.policy import Caller
from mburoja.stix import timestamps
from mburoja.stix.model import RawObject, Reject
from mburoja.store.sql import SqlStore
from mburoja.store.taxii import StatusRecord

log = logging.getLogger(__name__)


class EnvelopeError(ValueError):
    """The body is not a TAXII envelope (HTTP 422)."""


class _Envelope(msgspec.Struct):
    objects: list[msgspec.Raw]


class Vetted(msgspec.Struct, kw_only=True):
    """What a vetting hook made of a peer's envelope: the items to ingest (objects refused
    already as ``Reject``), where each came from, and the peer, to count what it sent."""

    items: list[RawObject | Reject]
    relay: dict[str, Any]
    peer_id: str


#: (caller, objects, envelope bytes, origin label) -> Vetted, or None for an ordinary client
VetFn = Callable[[Caller, list[bytes], bytes, str], Vetted | None]


class _Head(msgspec.Struct):
    """What a status entry names an object by."""

    id: str | None = None
    modified: str | None = None
    created: str | None = None


_envelope = msgspec.json.Decoder(_Envelope)
_head = msgspec.json.Decoder(_Head)


def read_envelope(body: bytes, max_objects: int) -> list[bytes]:
    """The objects of an envelope as exact bytes; ``EnvelopeError`` if it is not one."""
    try:
        envelope = _envelope.decode(body)
    except msgspec.ValidationError as exc:
        raise EnvelopeError(f"not a TAXII envelope: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise EnvelopeError(f"the body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise EnvelopeError("the body is nested too deeply") from exc
    if len(envelope.objects) > max_objects:
        raise EnvelopeError(
            f"{len(envelope.objects):,} objects in one envelope, over the limit of "
            f"{max_objects:,}; send smaller envelopes"
        )
    return [bytes(item) for item in envelope.objects]


def _entry(raw: bytes, message: str | None = None) -> dict[str, Any]:
    try:
        head = _head.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        head = _Head()
    entry: dict[str, Any] = {"id": head.id if isinstance(head.id, str) else "unknown"}
    version = head.modified or head.created
    if version:
        # not a timestamp: the reject message says so, and the entry has no version
        with contextlib.suppress(ValueError):
            entry["version"] = timestamps.to_taxii(version)
    if message:
        entry["message"] = message
    return entry


class Poster:
    """Runs envelopes into the store and keeps their status resources."""

    def __init__(self, store: SqlStore, settings: Settings, vet: VetFn | None = None) -> None:
        self.store = store
        self.settings = settings
        self.vet = vet
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="taxii-post")
        self._lock = threading.Lock()

    def close(self) -> None:
        self._background.shutdown(wait=True)

    def submit(
        self,
        caller: Caller,
        collection_id: str,
        alias: str,
        objects: list[bytes],
        envelope: bytes = b"",
    ) -> StatusRecord:
        """Start processing; returns the status as it stands when the answer is sent."""
        status = StatusRecord(
            id=str(uuid.uuid4()),
            collection_id=collection_id,
            org_id=caller.org_id,
            request_timestamp=timestamps.now(),
            status="pending",
            total_count=len(objects),
            pending_count=len(objects),
        )
        self.store.status_save(status, keep_hours=self.settings.taxii.status_keep_hours)
        if len(objects) <= self.settings.taxii.background_after:
            self._process(status, caller, alias, objects, envelope)
            return status
        # The answer shows the status as it is now: a copy, since the worker changes the
        # record as batches commit while the answer is being written.
        answer = msgspec.structs.replace(status)
        self._background.submit(self._process_logged, status, caller, alias, objects, envelope)
        return answer

    def _process_logged(
        self,
        status: StatusRecord,
        caller: Caller,
        alias: str,
        objects: list[bytes],
        envelope: bytes,
    ) -> None:
        try:
            self._process(status, caller, alias, objects, envelope)
        except Exception:
            log.exception("TAXII POST %s failed", status.id)
            failures = [
                _entry(
                    raw,
                    "the server failed while storing this envelope, and some of its objects "
                    "may have been stored; send it again (objects already stored come back "
                    "as unchanged, never twice)",
                )
                for raw in objects
            ]
            status.failure_count, status.success_count, status.pending_count = len(objects), 0, 0
            status.status = "complete"
            status.details = orjson.dumps({"failures": failures})
            self.store.status_save(status)

    def _process(
        self,
        status: StatusRecord,
        caller: Caller,
        alias: str,
        objects: list[bytes],
        envelope: bytes,
    ) -> None:
        origin = f"taxii POST {status.id}"
        vetted = self.vet(caller, objects, envelope, origin) if self.vet else None
        items = (
            vetted.items
            if vetted is not None
            else [RawObject(raw, origin, i) for i, raw in enumerate(objects)]
        )

        def committed(report: IngestReport) -> None:
            with self._lock:
                status.success_count = report.new + report.new_versions + report.unchanged
                status.failure_count = report.rejected
                status.pending_count = (
                    status.total_count - status.success_count - status.failure_count
                )
            self.store.status_save(status)

        owner = None if caller.org_id == self._home() else caller.org_id
        report = Ingestor(self.store, self.settings, on_commit=committed, workers=0).run(
            items,
            source=f"taxii:{caller.user_name or 'anonymous'}",
            actor=caller.user_name or "anonymous",
            collection=alias,
            owner=owner,
            relay=vetted.relay if vetted is not None else None,
        )
        failed = {
            idx: f"{field}: {reason}" if field else reason
            for idx, _oid, field, reason in self.store.quarantine_for_ingest(report.ingest_id)
        }
        successes = [_entry(raw) for i, raw in enumerate(objects) if i not in failed]
        failures = [_entry(objects[i], message) for i, message in sorted(failed.items())]
        if vetted is not None:
            self.store.peer_count(vetted.peer_id, received=len(successes), rejected=len(failures))
        with self._lock:
            status.success_count = len(successes)
            status.failure_count = len(failures)
            status.pending_count = 0
            status.status = "complete"
            details: dict[str, Any] = {}
            if successes:
                details["successes"] = successes
            if failures:
                details["failures"] = failures
            status.details = orjson.dumps(details)
        self.store.status_save(status)

    def _home(self) -> str | None:
        home = self.store.home_org()
        return home.id if home else None
