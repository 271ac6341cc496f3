"""Real Mburoja instances as separate ``mburoja serve`` processes on 127.0.0.1, for the
federation tests and benchmark: Tirana, Sofia and a hub, each with its own store, key,
secret and accounts, linked as peers the way an operator would link them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
from typer.testing import CliRunner

from mburoja.cli.main import app
from mburoja.federation.signing import init_key, key_id, public_key_text
from mburoja.store.sql import SqlStore, open_store

MEDIA = "application/taxii+json;version=2.1"
SHARED = "shared"
SHARED_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, f"mburoja:collection:{SHARED}"))
_runner = CliRunner(env={"COLUMNS": "400"})


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Instance:
    """One Mburoja: a data directory, a store, and (once started) a server process."""

    def __init__(self, root: Path, name: str, **settings: str) -> None:
        self.name = name
        self.data_dir = root / name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.api_root = f"{self.base}/taxii2/api/"
        self.env: dict[str, str] = {
            f"MBUROJA_{key.upper()}": value for key, value in settings.items()
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.log = root / f"{name}.log"
        self.cli("init", "--org", name)
        key, _ = init_key(self.data_dir)
        self.public_key = public_key_text(key)
        self.key_id = key_id(key.public_key())
        with self.store() as store:
            store.ensure_collection(SHARED)
            store.create_user(name, f"{name}-analyst", "analyst")
            self.token = store.issue_token(f"{name}-analyst").secret

    def cli(self, *args: str) -> str:
        result = _runner.invoke(app, ["--data-dir", str(self.data_dir), *args])
        assert result.exit_code == 0, result.output
        return result.output

    @contextmanager
    def store(self) -> Iterator[SqlStore]:
        store = open_store(f"sqlite:///{self.data_dir}/mburoja.db")
        try:
            yield store
        finally:
            store.close()

    # -- the server process ----------------------------------------------------------------

    program = str(Path(sys.executable).parent / "mburoja")

    def start(self, timeout_s: float = 30.0) -> None:
        env = {**os.environ, **self.env}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [self.program, "--data-dir", str(self.data_dir), "serve", "--port", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + timeout_s
        with httpx.Client(trust_env=False, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()}")
                try:
                    if client.get(f"{self.base}/api/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start:\n{self.log.read_text()}")

    def stop(self, *, kill: bool = False) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    # -- talking to it -----------------------------------------------------------------------

    def http(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(
            trust_env=False,
            timeout=60.0,
            headers={
                "Authorization": f"Bearer {token or self.token}",
                "Accept": MEDIA,
                "Content-Type": MEDIA,
            },
        )

    def post(self, objects: Iterable[Mapping[str, Any]], token: str | None = None) -> Any:
        """POST objects to the shared collection as this instance's analyst; the status."""
        body = orjson.dumps({"objects": list(objects)})
        with self.http(token) as client:
            answer = client.post(f"{self.api_root}collections/{SHARED_ID}/objects/", content=body)
        assert answer.status_code == 202, answer.text
        return answer.json()

    def versions(self) -> set[tuple[str, str]]:
        """(id, modified) of every stored version (the store, not a caller's view)."""
        with self.store() as store, store.engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT id, version FROM objects").all()
        return {(oid, version) for oid, version in rows}

    def count(self) -> int:
        with self.store() as store, store.engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT count(*) FROM objects").scalar_one())

    def status(self) -> dict[str, Any]:
        with self.http() as client:
            answer = client.get(f"{self.base}/api/federation")
        assert answer.status_code == 200, answer.text
        return {p["name"]: p for p in answer.json()["peers"]}


def link(
    sender: Instance,
    receiver: Instance,
    *,
    relation: str = "partner",
    back_relation: str = "partner",
    push: bool = True,
    must_sign: bool = True,
) -> None:
    """Make ``sender`` push to ``receiver``'s shared collection: the receiver knows the sender
    as a peer (its key, its organisation, a sync account allowed to write), and the sender
    knows the receiver (its key, the collection, the token in an environment variable).

    ``relation`` is the receiver's relation as the sender sees it (what it may receive);
    ``back_relation`` the sender's as the receiver sees it."""
    account = f"{sender.name}-to-{receiver.name}"
    with receiver.store() as store:
        known = {p.name for p in store.peers()}
        if sender.name not in known:
            store.add_peer(
                sender.name,
                sender.api_root,
                relation=back_relation,
                public_key=sender.public_key,
                must_sign=must_sign,
            )
        store.create_user(sender.name, account, "sync", kind="service")
        secret = store.issue_token(account).secret
        store.grant(SHARED, sender.name, can_read=True, can_write=True)
    variable = f"TOKEN_{receiver.name.upper()}"
    sender.env[variable] = secret
    with sender.store() as store:
        store.add_peer(
            receiver.name,
            receiver.api_root,
            relation=relation,
            public_key=receiver.public_key,
            secret_env=variable,
            push=[SHARED_ID] if push else [],
        )


def know(instance: Instance, other: Instance, relation: str = "partner") -> None:
    """``instance`` knows ``other``'s key (to check what others relay from it)."""
    with instance.store() as store:
        store.add_peer(other.name, other.api_root, relation=relation, public_key=other.public_key)


def wait_for(check: Any, timeout_s: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
