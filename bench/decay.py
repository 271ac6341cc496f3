"""Benchmark: recompute decay scores for 1,000,000 indicators.

Figure: indicators/s of :func:`mburoja.lifecycle.decay.scores` (numpy over arrays) and the
count under the threshold, on 1,000,000 synthetic indicators built in memory (base 20-100,
lifetimes of 30, 60, 90 and 365 days by kind, speed 0.3, ages 0-400 days). Reference, in the
same run and on the same input: the plain-Python loop of the same formula
(:func:`mburoja.lifecycle.decay.score`, one indicator at a time). Both must give the same
scores and the same count under the threshold.

Also: the end-to-end ``mburoja decay recompute`` job (:func:`mburoja.lifecycle.scores.recompute`)
over a SQLite store of 20,000 feed indicators: reading, parsing, compiling and scoring.
Run: ``python bench/decay.py [--scale S]`` (``make bench`` runs it with the defaults).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

from mburoja.config import Settings
from mburoja.ingest.pipeline import Ingestor
from mburoja.lifecycle.decay import DAY, defaults, score, scores
from mburoja.stix.model import RawObject
from mburoja.store.sql import open_store

THRESHOLD = 30.0
SPEED = 0.3
NOW = 1_800_000_000.0


def arrays(count: int, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "base": rng.integers(20, 101, count).astype(np.float64),
        "lifetime": rng.choice(np.array([30.0, 60.0, 90.0, 365.0]) * DAY, count),
        "speed": np.full(count, SPEED),
        "t": rng.uniform(0, 400 * DAY, count),
    }


def _numpy(data: dict[str, np.ndarray]) -> tuple[float, np.ndarray]:
    best = float("inf")
    got = np.empty(0)
    for _ in range(3):
        started = time.perf_counter()
        got = scores(data["base"], data["lifetime"], data["speed"], data["t"])
        int((got <= THRESHOLD).sum())
        best = min(best, time.perf_counter() - started)
    return best, got


def _python(data: dict[str, np.ndarray]) -> tuple[float, list[float]]:
    base, life, speed, t = (data[k].tolist() for k in ("base", "lifetime", "speed", "t"))
    started = time.perf_counter()
    got = [score(b, lt, s, e) for b, lt, s, e in zip(base, life, speed, t, strict=True)]
    sum(1 for v in got if v <= THRESHOLD)
    return time.perf_counter() - started, got


def _indicator(n: int) -> bytes:
    kind = n % 3
    if kind == 0:
        pattern = f"[ipv4-addr:value = '10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}']"
    elif kind == 1:
        pattern = f"[domain-name:value = 'host{n}.example']"
    else:
        pattern = f"[file:hashes.'SHA-256' = '{n:064x}']"
    stamp = f"2026-{1 + n % 12:02d}-{1 + n % 28:02d}T00:00:00.000Z"
    return orjson.dumps(
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{n:08x}-0000-4000-8000-000000000000",
            "created": stamp,
            "modified": stamp,
            "pattern": pattern,
            "pattern_type": "stix",
            "valid_from": stamp,
            "confidence": 20 + n % 81,
        }
    )


def _store_job(count: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="mburoja-bench-decay-") as tmp:
        settings = Settings(data_dir=tmp)
        store = open_store(f"sqlite:///{Path(tmp) / 'store.db'}", initialise=True)
        try:
            items = (RawObject(_indicator(n), "bench", n) for n in range(count))
            Ingestor(store, settings, workers=0).run(items, source="feed:bench")
            from mburoja.lifecycle.scores import recompute

            started = time.perf_counter()
            job = recompute(store, defaults(), now=NOW)
            elapsed = time.perf_counter() - started
        finally:
            store.close()
    return {
        "indicators": job.indicators,
        "below": job.below,
        "seconds": round(elapsed, 3),
        "indicators_per_s": round(job.indicators / elapsed),
    }


def main(scale: float | None = None) -> dict[str, object]:
    if scale is None:
        parser = argparse.ArgumentParser()
        parser.add_argument("--scale", type=float, default=1.0)
        scale = parser.parse_known_args()[0].scale
    count = max(1000, int(1_000_000 * scale))
    data = arrays(count)
    ours_s, ours = _numpy(data)
    ref_s, ref = _python(data)
    same = bool(np.allclose(ours, np.asarray(ref), rtol=0, atol=1e-9)) and int(
        (ours <= THRESHOLD).sum()
    ) == sum(1 for v in ref if v <= THRESHOLD)
    results: dict[str, object] = {
        "indicators": count,
        "below_threshold": int((ours <= THRESHOLD).sum()),
        "ours_indicators_per_s": round(count / ours_s),
        "python_indicators_per_s": round(count / ref_s),
        "ratio_vs_python": round(ref_s / ours_s, 1),
        "same_scores": same,
        "store_job": _store_job(max(1000, int(20_000 * scale))),
    }
    print(
        f"decay scores: numpy {results['ours_indicators_per_s']:,} indicators/s vs python loop "
        f"{results['python_indicators_per_s']:,}/s: {results['ratio_vs_python']}x; "
        f"same scores: {same}; recompute job from a store: {results['store_job']}",
        flush=True,
    )
    return results


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
