"""A real medallion TAXII 2.1 server for tests and benchmarks, on 127.0.0.1 and a free port.

``running_medallion(objects)`` writes a medallion configuration and a memory-backend data
file into a temporary directory, with one API root holding one read/write collection
preloaded with ``objects``, starts ``medallion`` as a subprocess, waits until it answers the
discovery request, and stops it on exit. medallion's memory backend needs a manifest entry per
object (its ``date_added`` drives ``added_after`` and the ``X-TAXII-Date-Added-*`` headers), so
the preload gets one, each a millisecond after the previous one, from a fixed start in the past:
anything added later through the server's own POST sorts after all of them.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

MEDIA_TYPE = "application/taxii+json;version=2.1"
API_ROOT = "api1"
PRELOAD_START = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Medallion:
    """A running medallion: where it is and how to log in."""

    base_url: str  # http://127.0.0.1:PORT/
    discovery_url: str
    api_root_url: str
    collection_id: str
    user: str
    password: str
    max_content_length: int
    log: Path  # the server's stdout and stderr

    @property
    def auth(self) -> tuple[str, str]:
        return (self.user, self.password)

    @property
    def objects_url(self) -> str:
        return f"{self.api_root_url}collections/{self.collection_id}/objects/"


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _collection(collection_id: str, objects: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A memory-backend collection holding ``objects``, each with its manifest entry.

    An object without ``modified`` or ``created`` (an SCO) is versioned by medallion with a
    hidden ``_date_added``, which it strips again when it serves the object.
    """
    stored: list[dict[str, Any]] = []
    manifest: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for obj in objects:
        copy = dict(obj)
        stix_version = copy.get("modified") or copy.get("created") or ""
        if (copy["id"], stix_version) in seen:  # medallion would serve a duplicate twice
            continue
        seen.add((copy["id"], stix_version))
        added = _timestamp(PRELOAD_START + timedelta(milliseconds=len(stored)))
        version = stix_version or added
        if not stix_version:  # an SCO: immutable, so one copy per id, as medallion's POST does
            copy["_date_added"] = added
        stored.append(copy)
        manifest.append(
            {
                "id": copy["id"],
                "date_added": added,
                "version": version,
                "media_type": "application/stix+json;version=2.1",
            }
        )
    return {
        "id": collection_id,
        "title": "Mburoja test collection",
        "description": "preloaded by tests/taxii/medallion.py",
        "can_read": True,
        "can_write": True,
        "media_types": ["application/stix+json;version=2.1"],
        "objects": stored,
        "manifest": manifest,
    }


def _data(base_url: str, collection: dict[str, Any], max_content_length: int) -> dict[str, Any]:
    """The memory backend's data file: discovery, one API root, its collection."""
    return {
        "/discovery": {
            "title": "Mburoja test TAXII server (medallion)",
            "description": "started by tests/taxii/medallion.py",
            "contact": "nobody@example.org",
            "default": f"{base_url}{API_ROOT}/",
            "api_roots": [f"{base_url}{API_ROOT}/"],
        },
        API_ROOT: {
            "information": {
                "title": "Test API root",
                "description": "one read/write collection",
                "versions": [MEDIA_TYPE],
                "max_content_length": max_content_length,
            },
            "status": [],
            "collections": [collection],
        },
    }


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(
    process: subprocess.Popen[bytes], url: str, auth: tuple[str, str], log: Path, timeout_s: float
) -> None:
    """Return once medallion answers ``url``; fail with its log if it dies or stays silent."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(trust_env=False, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                said = log.read_text(errors="replace")
                raise RuntimeError(f"medallion exited with {process.returncode}:\n{said}")
            try:
                answer = client.get(url, headers={"Accept": MEDIA_TYPE}, auth=auth)
            except httpx.TransportError:
                time.sleep(0.05)
                continue
            if answer.status_code == 200:
                return
            raise RuntimeError(f"medallion answered {answer.status_code}: {answer.text}")
    raise RuntimeError(
        f"medallion did not answer within {timeout_s}s:\n{log.read_text(errors='replace')}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def running_medallion(
    objects: Sequence[Mapping[str, Any]] = (),
    *,
    max_content_length: int = 10 * 1024 * 1024,
    max_page_size: int = 1000,
    user: str = "mburoja",
    password: str = "s3cret-for-tests",
    workdir: Path | None = None,
    start_timeout_s: float = 30.0,
) -> Iterator[Medallion]:
    """Run medallion with ``objects`` preloaded into one collection; stop it afterwards.

    ``max_page_size`` caps any ``limit`` a client asks for; ``max_content_length`` is what the
    API root advertises and enforces on POST.
    """
    with tempfile.TemporaryDirectory(prefix="medallion-", dir=workdir) as tmp:
        folder = Path(tmp)
        port = _free_port()
        base_url = f"http://127.0.0.1:{port}/"
        collection_id = str(uuid.uuid4())
        data_file = folder / "data.json"
        data_file.write_text(
            json.dumps(_data(base_url, _collection(collection_id, objects), max_content_length)),
            encoding="utf-8",
        )
        config_file = folder / "config.json"
        config_file.write_text(
            json.dumps(
                {
                    "backend": {
                        "module": "medallion.backends.memory_backend",
                        "module_class": "MemoryBackend",
                        "filename": str(data_file),
                    },
                    "users": {user: password},
                    "taxii": {"max_page_size": max_page_size},
                }
            ),
            encoding="utf-8",
        )
        log = folder / "medallion.log"
        command = [
            sys.executable, "-m", "medallion.scripts.run",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "WARN", str(config_file),
        ]  # fmt: skip
        with log.open("wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=folder)
        try:
            _wait_until_up(process, f"{base_url}taxii2/", (user, password), log, start_timeout_s)
            yield Medallion(
                base_url=base_url,
                discovery_url=f"{base_url}taxii2/",
                api_root_url=f"{base_url}{API_ROOT}/",
                collection_id=collection_id,
                user=user,
                password=password,
                max_content_length=max_content_length,
                log=log,
            )
        finally:
            _stop(process)


def served_objects(server: Medallion, timeout_s: float = 30.0) -> list[dict[str, Any]]:
    """Every object version the server holds now, read with plain httpx (not our client), so
    tests can check what a push really left there."""
    found: list[dict[str, Any]] = []
    params: dict[str, str] = {"match[version]": "all", "limit": "1000"}
    with httpx.Client(trust_env=False, timeout=timeout_s, auth=server.auth) as client:
        for _page in range(10_000):
            answer = client.get(server.objects_url, params=params, headers={"Accept": MEDIA_TYPE})
            answer.raise_for_status()
            envelope = answer.json()
            found.extend(envelope.get("objects", []))
            if not envelope.get("more"):
                return found
            params["next"] = envelope["next"]
    raise RuntimeError("medallion kept saying 'more'")


def add_objects(server: Medallion, objects: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """POST ``objects`` to the collection with plain httpx; returns medallion's status."""
    body = json.dumps({"objects": list(objects)}).encode()
    with httpx.Client(trust_env=False, timeout=30.0, auth=server.auth) as client:
        answer = client.post(
            server.objects_url,
            content=body,
            headers={"Accept": MEDIA_TYPE, "Content-Type": MEDIA_TYPE},
        )
    answer.raise_for_status()
    status: dict[str, Any] = answer.json()
    return status
