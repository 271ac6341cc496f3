"""Federation benchmark: Tirana -> hub -> Sofia, three `mburoja serve` processes on loopback.

Steady phase: Tirana takes in a steady stream (default 1,000 objects/s for 60 s, TAXII POSTs
of 100 every 0.1 s). Latency is measured per object from the stores themselves: Sofia's
``date_added`` (its commit) minus the origin time in the provenance path Sofia recorded
(Tirana's ``date_added``). All three processes share one clock. Outbox depth at Tirana and
at the hub is sampled every second.

Catch-up phase: Sofia is stopped while Tirana takes in 100,000 objects; once the hub holds
them all for Sofia, Sofia starts and the time until it has all of them is measured. The
reference, in the same run, is a fresh instance taking the same objects by plain TAXII POST
in envelopes of 500 (what the pusher sends), with no signatures, relaying or outbox.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.federation.cluster import SHARED_ID, Instance, know, link  # noqa: E402

GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"


def objects(count: int, tag: str) -> list[dict]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    out = []
    for n in range(count):
        ip = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
        out.append(
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": f"indicator--{uuid.uuid4()}",
                "created": now,
                "modified": now,
                "name": f"{tag} {ip}",
                "pattern": f"[ipv4-addr:value = '{ip}']",
                "pattern_type": "stix",
                "valid_from": now,
                "object_marking_refs": [GREEN],
            }
        )
    return out


def _stamp(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def _post(client: httpx.Client, instance: Instance, batch: list[dict]) -> None:
    url = f"{instance.api_root}collections/{SHARED_ID}/objects/"
    answer = client.post(url, content=orjson.dumps({"objects": batch}))
    answer.raise_for_status()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def steady(t: Instance, h: Instance, s: Instance, rate: int, seconds: int) -> dict:
    per_tick = max(1, rate // 10)
    samples: list[dict] = []
    done = threading.Event()

    def sample() -> None:
        start = time.monotonic()
        while not done.is_set():
            with contextlib.suppress(httpx.HTTPError, AssertionError, KeyError):
                samples.append(
                    {
                        "t": round(time.monotonic() - start, 1),
                        "tirana_outbox": t.status()["hub"]["pending"],
                        "hub_outbox": h.status()["sofia"]["pending"],
                    }
                )
            done.wait(1.0)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    sent = 0
    behind = 0
    with t.http() as client:
        start = time.monotonic()
        for tick in range(seconds * 10):
            due = start + tick / 10
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            else:
                behind += 1
            _post(client, t, objects(per_tick, "steady"))
            sent += per_tick
        sending_s = time.monotonic() - start
    deadline = time.monotonic() + 120
    while s.count() < sent and time.monotonic() < deadline:
        time.sleep(0.1)
    done.set()
    sampler.join()
    with s.store() as store, store.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT o.date_added, p.path FROM objects o JOIN provenance p ON p.seq = o.seq"
        ).all()
    latencies = [_stamp(added) - _stamp(orjson.loads(path)[0]["received"]) for added, path in rows]
    first = samples[: max(1, len(samples) // 6)]
    last = samples[-max(1, len(samples) // 6) :]
    return {
        "rate": rate,
        "seconds": seconds,
        "sent": sent,
        "arrived": len(rows),
        "sending_s": round(sending_s, 1),
        "ticks_behind": behind,
        "throughput_per_s": round(len(rows) / sending_s),
        "latency_ms": {
            "p50": round(statistics.median(latencies) * 1000, 1),
            "p99": round(_pct(latencies, 0.99) * 1000, 1),
            "max": round(max(latencies) * 1000, 1),
        },
        "outbox": {
            "tirana_max": max(x["tirana_outbox"] for x in samples),
            "hub_max": max(x["hub_outbox"] for x in samples),
            "hub_mean_first_sixth": round(statistics.mean(x["hub_outbox"] for x in first), 1),
            "hub_mean_last_sixth": round(statistics.mean(x["hub_outbox"] for x in last), 1),
            "samples": samples,
        },
    }


def catch_up(t: Instance, h: Instance, s: Instance, count: int) -> dict:
    s.stop()
    before = s.count()
    batch = objects(count, "catch-up")
    with t.http() as client:
        for start in range(0, count, 1000):
            _post(client, t, batch[start : start + 1000])
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if h.status()["sofia"]["pending"] >= count:
            break
        time.sleep(0.5)
    print(f"  the hub holds {count:,} for Sofia; Sofia reconnects", flush=True)
    s.start()  # the clock starts once it answers: from reconnection to caught up
    start = time.monotonic()
    while s.count() < before + count and time.monotonic() < deadline:
        time.sleep(0.2)
    elapsed = time.monotonic() - start
    return {
        "objects": count,
        "arrived": s.count() - before,
        "seconds": round(elapsed, 1),
        "objects_per_s": round((s.count() - before) / elapsed),
        "batch": batch,
    }


def reference(root: Path, batch: list[dict]) -> dict:
    ref = Instance(root, "reference")
    ref.start()
    try:
        with ref.http() as client:
            start = time.monotonic()
            for first in range(0, len(batch), 500):
                _post(client, ref, batch[first : first + 500])
            elapsed = time.monotonic() - start
    finally:
        ref.stop()
    return {
        "objects": len(batch),
        "seconds": round(elapsed, 1),
        "objects_per_s": round(len(batch) / elapsed),
    }


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--catch-up", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mburoja-bench-fed-") as tmp:
        root = Path(tmp)
        t, h, s = Instance(root, "tirana"), Instance(root, "hub"), Instance(root, "sofia")
        link(t, h, relation="partner")
        link(h, s, relation="partner")
        know(s, t)
        for instance in (t, h, s):
            instance.start()
        try:
            print(f"steady {args.rate:,} objects/s for {args.seconds}s ...", flush=True)
            live = steady(t, h, s, args.rate, args.seconds)
            lat = live["latency_ms"]
            print(
                f"  {live['arrived']:,}/{live['sent']:,} arrived; latency p50 {lat['p50']} ms, "
                f"p99 {lat['p99']} ms, max {lat['max']} ms; hub outbox max "
                f"{live['outbox']['hub_max']}",
                flush=True,
            )
            print(f"catch-up of {args.catch_up:,} objects ...", flush=True)
            caught = catch_up(t, h, s, args.catch_up)
            print(f"  {caught['objects_per_s']:,} objects/s", flush=True)
        finally:
            for instance in (t, h, s):
                instance.stop()
        ref = reference(root, caught.pop("batch"))
    print(f"  reference, plain TAXII POST into a fresh instance: {ref['objects_per_s']:,}/s")
    return {
        "steady": live,
        "catch_up": caught,
        "reference_post": ref,
        "catch_up_over_post": round(caught["objects_per_s"] / ref["objects_per_s"], 2),
        "p99_over_target": round(live["latency_ms"]["p99"] / 1000, 3),
    }


if __name__ == "__main__":
    import json

    result = main()
    result["steady"]["outbox"].pop("samples")
    print(json.dumps(result, indent=2))
