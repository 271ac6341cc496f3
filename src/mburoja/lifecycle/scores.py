"""Decay scores as people see them: one indicator's explanation, and the recompute job.

:mod:`mburoja.lifecycle.decay` holds the model; this module reads what it needs from the
store (the indicator's source, its key kinds, the newest sighting of it) and answers in
terms an analyst reads: the score now, what it is made of, when it falls under the
threshold, and whether the indicator is therefore out of detection. A full-snapshot feed
that still lists the value resets the score too (``store.listed_times``; ``reset_by`` then
reads "listed by feed <name>").

The search page, the object page, their API forms and ``mburoja decay show`` use
:func:`indicator_decay`; they count only sightings the caller may see, so a reset time never
tells a caller about a sighting withheld from them. ``mburoja decay recompute`` uses
:func:`recompute`: the score of every current indicator at one moment, computed with numpy
over arrays, counted by model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import msgspec
import numpy as np
import orjson

from mburoja.detect.compile import Compiled, compile_indicator
from mburoja.detect.index import sightings_seen
from mburoja.lifecycle.decay import DAY, Decay, DecayModels, fold_sightings, scores
from mburoja.policy import Caller, Policy
from mburoja.store.sql import SqlStore

#: sightings read per indicator asked about (the newest stored first)
SIGHTINGS_READ: Final = 20_000
BELOW: Final = "below threshold: not in detection"
ABOVE: Final = "above threshold: in detection while valid"
NEVER: Final = "base at or under the threshold: never in detection"


def stamp(moment: float) -> str:
    """Epoch seconds as a STIX timestamp (UTC, milliseconds)."""
    at = datetime.fromtimestamp(moment, UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


class Explained(msgspec.Struct, frozen=True, kw_only=True):
    """One indicator's decay at ``at``, for a person to read."""

    at: str
    model: str
    score: float
    base: float
    threshold: float
    speed: float
    lifetime_days: float
    reset: str
    reset_by: str  # valid_from, modified, sighting or "listed by feed <name>"
    drops_below: str | None  # when the score reaches the threshold; None: never above it
    below_threshold: bool
    note: str


def explain(decay: Decay, now: float) -> Explained:
    below = not decay.active(now)
    return Explained(
        at=stamp(now),
        model=decay.model,
        score=round(decay.score(now), 2),
        base=decay.base,
        threshold=decay.threshold,
        speed=decay.speed,
        lifetime_days=round(decay.lifetime_s / DAY, 3),
        reset=stamp(decay.reset),
        reset_by=decay.reset_by,
        drops_below=None if decay.drops_at is None else stamp(decay.drops_at),
        below_threshold=below,
        note=(NEVER if decay.drops_at is None else BELOW) if below else ABOVE,
    )


def sightings_of(
    store: SqlStore,
    ids: Sequence[str],
    policy: Policy | None,
    caller: Caller | None,
    now: float,
) -> dict[str, float]:
    """Indicator id -> the newest time a sighting of it that ``caller`` may see (no policy:
    any) was seen, capped at ``now``."""
    seen: dict[str, float] = {}
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        rows = store.current_sightings(before_seq=None, limit=SIGHTINGS_READ, sighting_of=chunk)
        fold_sightings(seen, rows, policy, caller, now, set(chunk))
    return seen


def kinds_of(body: Mapping[str, Any], owner: str | None) -> set[str]:
    """The key kinds of an indicator (none when it cannot be compiled)."""
    found = compile_indicator(dict(body), owner)
    return {key.kind for key in found.keys} if isinstance(found, Compiled) else set()


def indicator_decay(
    models: DecayModels,
    body: Mapping[str, Any],
    source: str | None,
    owner: str | None,
    sighted: float | None,
    now: float,
    listed: tuple[float, str] | None = None,
) -> Explained | None:
    """The decay of indicator ``body`` (as the caller sees it) stored from ``source``;
    None for another type or a source no model takes. ``listed``: when and by which
    full-snapshot feed the value was last listed (``store.listed_times``)."""
    if body.get("type") != "indicator" or not models:
        return None
    decay = models.decay(body, source, kinds_of(body, owner), sighted, now, listed)
    return None if decay is None else explain(decay, now)


def object_decay(
    store: SqlStore,
    models: DecayModels,
    object_id: str,
    *,
    policy: Policy | None,
    caller: Caller | None,
    now: float | None = None,
) -> Explained | None:
    """The decay of the current version of ``object_id`` as ``caller`` may see it (None
    when they may not, or when it does not decay)."""
    now = time.time() if now is None else now
    version = store.current(object_id)
    if version is None or version.type != "indicator" or not models:
        return None
    raw: bytes | None = version.raw
    if policy is not None and caller is not None:
        raw = policy.view(caller, version.owner, version.markings, version.raw)
    if raw is None:
        return None
    sighted = sightings_of(store, [object_id], policy, caller, now).get(object_id)
    listed = store.listed_times([object_id]).get(object_id)
    body = orjson.loads(raw)
    return indicator_decay(models, body, version.source, version.owner, sighted, now, listed)


# -- the recompute job --------------------------------------------------------------------


class ModelCount(msgspec.Struct, kw_only=True):
    indicators: int = 0
    below: int = 0
    mean_score: float = 0.0


class Recomputed(msgspec.Struct, kw_only=True):
    """Scores of every current, unrevoked indicator at ``at``: counts by model, how many
    are at or under their threshold, how many no model takes, and the rate."""

    at: str
    indicators: int = 0
    decaying: int = 0
    below: int = 0
    no_model: int = 0
    by_model: dict[str, ModelCount] = msgspec.field(default_factory=dict)
    seconds: float = 0.0
    per_second: float = 0.0


def recompute(
    store: SqlStore,
    models: DecayModels,
    *,
    now: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> Recomputed:
    """Score every current indicator at ``now`` (see :class:`Recomputed`). ``progress`` is
    told the number of indicators read after each batch."""
    started = time.perf_counter()
    now = time.time() if now is None else now
    out = Recomputed(at=stamp(now))
    seen = sightings_seen(store, None, now=now) if models else {}
    listed = store.listed_times() if models else {}
    names: list[str] = []
    index: dict[str, int] = {}
    which: list[int] = []
    base: list[float] = []
    lifetime: list[float] = []
    speed: list[float] = []
    threshold: list[float] = []
    elapsed: list[float] = []
    seq = 0
    while rows := store.indicator_versions(seq, 20_000, with_source=True):
        for row_seq, owner, raw, source in rows:
            seq = max(seq, row_seq)
            obj = orjson.loads(raw)
            if obj.get("revoked") is True:
                continue
            out.indicators += 1
            oid = obj.get("id", "")
            decay = (
                models.decay(obj, source, kinds_of(obj, owner), seen.get(oid), now, listed.get(oid))
                if models
                else None
            )
            if decay is None:
                out.no_model += 1
                continue
            which.append(index.setdefault(decay.model, len(index)))
            if len(index) > len(names):
                names.append(decay.model)
            base.append(decay.base)
            lifetime.append(decay.lifetime_s)
            speed.append(decay.speed)
            threshold.append(decay.threshold)
            elapsed.append(now - decay.reset)
        if progress is not None:
            progress(out.indicators)
    if which:
        got = scores(np.asarray(base), np.asarray(lifetime), np.asarray(speed), np.asarray(elapsed))
        model_of = np.asarray(which)
        below = got <= np.asarray(threshold)
        for i, name in enumerate(names):
            mine = model_of == i
            out.by_model[name] = ModelCount(
                indicators=int(mine.sum()),
                below=int(below[mine].sum()),
                mean_score=round(float(got[mine].mean()), 2),
            )
        out.decaying = len(which)
        out.below = int(below.sum())
    out.seconds = round(time.perf_counter() - started, 3)
    out.per_second = round(out.indicators / out.seconds, 1) if out.seconds > 0 else 0.0
    return out
