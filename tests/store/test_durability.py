"""Kill -9 durability: what the store acknowledged survives the death of the process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import sqlalchemy as sa

from mburoja.store.sql import open_store

CHILD = r"""
import sys, uuid
from mburoja.store.base import Provenance
from mburoja.store.sql import open_store
from tests.factories import indicator, prepared

store = open_store(sys.argv[1])
run = store.begin_ingest("killtest", "test")
prov = Provenance(source="killtest", actor="test", ingest_id=run, collection="kill")
n = 0
while True:
    batch = []
    for _ in range(250):
        n += 1
        oid = f"indicator--{uuid.uuid5(uuid.NAMESPACE_URL, str(n))}"
        address = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
        batch.append(prepared(indicator(f"[ipv4-addr:value = '{address}']", id=oid)))
    store.write_batch(batch, [], prov)
    # acknowledged: only now do we tell the parent
    sys.stdout.write("\n".join(o.id for o in batch) + "\n")
    sys.stdout.flush()
"""


def test_acknowledged_writes_survive_kill_9_and_the_store_stays_consistent(store_url: str) -> None:
    open_store(store_url, initialise=True).close()
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, store_url],
        stdout=subprocess.PIPE,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": repo},
    )
    acknowledged: list[str] = []
    deadline = time.monotonic() + 60
    assert child.stdout is not None
    while len(acknowledged) < 3000 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        acknowledged.append(line.decode().strip())
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert len(acknowledged) >= 3000, "the child did not get far enough to test anything"

    store = open_store(store_url)
    try:
        present = store.current_many(acknowledged)
        missing = [oid for oid in acknowledged if oid not in present]
        assert missing == []
        with store.engine.connect() as conn:
            if store.dialect == "sqlite":
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
            # every id has exactly one current version
            dup = conn.execute(
                sa.text(
                    "SELECT count(*) FROM (SELECT id FROM objects WHERE is_current "
                    "GROUP BY id HAVING count(*) <> 1) d"
                )
            ).scalar_one()
            assert dup == 0
            # index rows never point at objects that are not there (no half batches)
            orphans = conn.execute(
                sa.text(
                    "SELECT count(*) FROM observables b WHERE NOT EXISTS "
                    "(SELECT 1 FROM objects o WHERE o.seq = b.seq)"
                )
            ).scalar_one()
            assert orphans == 0
            stored = conn.execute(sa.text("SELECT count(*) FROM objects")).scalar_one()
            observables = conn.execute(sa.text("SELECT count(*) FROM observables")).scalar_one()
            members = conn.execute(sa.text("SELECT count(*) FROM collection_objects")).scalar_one()
        # whole batches only: every stored object has its observable and membership row
        assert stored % 250 == 0 and stored >= len(acknowledged)
        assert observables == stored == members
        # the store still takes writes after the crash
        assert store.search("10.0.0.1").hits
    finally:
        store.close()
