"""Indicator decay: how much an indicator is still worth, and when it leaves detection.

An IP address a feed listed last month is probably somebody else's by now; a file hash
stays bad for years. Like MISP's decaying models, each indicator gets a *score* that
falls with the time since it was last confirmed, along MISP's polynomial curve::

    score(t) = base * (1 - (t / lifetime) ** (1 / speed))    for 0 <= t < lifetime
    score(t) = 0                                            after

* ``t`` is the time since the indicator's *reset*: the newest of its ``valid_from``, the
  ``modified`` of its current version, the newest ``last_seen`` (else ``first_seen``,
  else ``created``) of a sighting of it, and the last time a full-snapshot feed listed it
  (``store.listed_times``). A sighting therefore *resets* the score to the base, and so
  does every good run of a full-snapshot feed that still lists the value: a feed stores
  an unchanged value once, and without the listing a value a blocklist keeps listing for
  months would decay as if the feed had dropped it. A time in the future counts as now,
  so that a source cannot keep its indicators fresh by dating them ahead.
* ``base`` is the indicator's ``confidence`` (the model's ``default_base`` without one),
  at most ``max_base``, or the model's fixed ``base``.
* ``lifetime`` depends on the indicator's key kinds (:mod:`mburoja.detect.compile`): the
  shortest lifetime among them, because the fastest-ageing key is the one that floods
  sensors once stale.
* ``speed`` shapes the curve: under 1 the score stays high, then falls steeply near the
  end of the lifetime; over 1 it falls fast at first.

Once the score is at or under the model's ``threshold`` the indicator is *decayed*: it
leaves the active index (:mod:`mburoja.detect.index`) and the sensor exports, and stays in
the store and in search. The crossing moment has a closed form,
``reset + lifetime * (1 - threshold / base) ** speed``, which the index schedules like a
``valid_until``. An indicator whose base is at or under the threshold is never active.

A *model* is chosen by the ingest source of the indicator's current version (``feed:…``,
``misp:…``, ``taxii:…``), matched by glob, first match wins. An indicator no model takes
does not decay. The shipped model takes ``feed:*`` only.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Container, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

import msgspec
import numpy as np
import numpy.typing as npt
import orjson

from mburoja.errors import ConfigError
from mburoja.stix import timestamps

if TYPE_CHECKING:
    from mburoja.config import DecayModelSettings, DecaySettings
    from mburoja.policy import Caller, Policy

DAY: Final = 86_400.0
#: lifetime in days of each key kind in the shipped model (see docs/decay.md for why)
LIFETIME_DAYS: Final[Mapping[str, float]] = {
    "ip": 30.0,
    "net": 30.0,
    "endpoint": 30.0,
    "url": 60.0,
    "domain": 90.0,
    "email": 180.0,
    "x509-md5": 180.0,
    "x509-sha1": 180.0,
    "x509-sha256": 180.0,
    "md5": 365.0,
    "sha1": 365.0,
    "sha256": 365.0,
    "sha512": 365.0,
}
#: the reason an index report and an export give for a decayed indicator
REASON_PREFIX: Final = "decayed below threshold"


def epoch(stamp: object) -> float | None:
    """A STIX timestamp as epoch seconds; None for anything else."""
    if not isinstance(stamp, str) or not stamp:
        return None
    return _epoch(stamp)


@lru_cache(maxsize=65_536)
def _epoch(stamp: str) -> float | None:
    # a feed stamps many indicators with the same few times: parse each once
    try:
        return timestamps.parse(stamp).timestamp()
    except (ValueError, TypeError):
        return None


def score(base: float, lifetime_s: float, speed: float, t: float) -> float:
    """MISP's polynomial decay: ``base`` at ``t`` <= 0, 0 from ``lifetime_s`` on."""
    if t <= 0:
        return float(base)
    if t >= lifetime_s:
        return 0.0
    return float(base * (1.0 - (t / lifetime_s) ** (1.0 / speed)))


def scores(
    base: npt.NDArray[np.float64],
    lifetime_s: npt.NDArray[np.float64],
    speed: npt.NDArray[np.float64],
    t: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """:func:`score` over arrays at once (the recompute job and the benchmark)."""
    ratio = np.clip(t / lifetime_s, 0.0, 1.0)
    return np.asarray(base * (1.0 - ratio ** (1.0 / speed)), dtype=np.float64)


class Decay(msgspec.Struct, frozen=True, kw_only=True):
    """One indicator's decay under its model: what its score is made of and when it drops.

    ``drops_at`` (epoch seconds) is the moment the score reaches the threshold; None when
    the base is at or under the threshold already (never active)."""

    model: str
    base: float
    lifetime_s: float
    speed: float
    threshold: float
    reset: float
    reset_by: str  # valid_from, modified, sighting or "listed by feed <name>"
    drops_at: float | None

    def score(self, now: float) -> float:
        return score(self.base, self.lifetime_s, self.speed, now - self.reset)

    def active(self, now: float) -> bool:
        """Whether the score is still above the threshold at ``now``."""
        return self.drops_at is not None and now < self.drops_at

    def until(self) -> float:
        """``drops_at`` as an expiry (never active: minus infinity)."""
        return float("-inf") if self.drops_at is None else self.drops_at

    def renewed(self, moment: float, by: str) -> Decay:
        """This decay reset at ``moment`` by ``by`` (unchanged when it is not newer)."""
        if moment <= self.reset:
            return self
        span = None if self.drops_at is None else self.drops_at - self.reset
        return msgspec.structs.replace(
            self,
            reset=moment,
            reset_by=by,
            drops_at=None if span is None else moment + span,
        )

    def resighted(self, seen: float) -> Decay:
        """This decay after a sighting at ``seen`` (unchanged when it is not newer)."""
        return self.renewed(seen, "sighting")

    def relisted(self, listed: tuple[float, str], now: float) -> Decay:
        """This decay after feed ``listed[1]`` listed the value at ``listed[0]`` (capped at
        ``now``; unchanged when it is not newer)."""
        return self.renewed(min(listed[0], now), listed_by(listed[1]))

    @property
    def reason(self) -> str:
        return f"{REASON_PREFIX} {self.threshold:g} (model {self.model})"


class DecayModel(msgspec.Struct, frozen=True, kw_only=True):
    """The decay of the indicators of the sources ``sources`` (globs) match."""

    name: str
    sources: tuple[str, ...]
    threshold: float = 30.0
    speed: float = 0.3
    default_base: float = 50.0
    max_base: float = 100.0
    base: float | None = None
    default_lifetime_days: float = 90.0
    lifetime_days: Mapping[str, float] = msgspec.field(default_factory=lambda: LIFETIME_DAYS)

    def lifetime_s(self, kinds: Iterable[str]) -> float:
        """The shortest lifetime among ``kinds`` (none: the default lifetime), in seconds."""
        days = [self.lifetime_days.get(kind, self.default_lifetime_days) for kind in kinds]
        return (min(days) if days else self.default_lifetime_days) * DAY

    def base_of(self, confidence: object) -> float:
        if self.base is not None:
            return self.base
        if isinstance(confidence, int) and not isinstance(confidence, bool):
            return float(min(confidence, self.max_base))
        return min(self.default_base, self.max_base)

    def span(self, base: float, lifetime_s: float) -> float | None:
        """Seconds from the reset until the score reaches the threshold (None: never above)."""
        if base <= self.threshold:
            return None
        return float(lifetime_s * (1.0 - self.threshold / base) ** self.speed)


def listed_by(feed: str) -> str:
    """What a reset by a full-snapshot feed's listing is called (``Decay.reset_by``)."""
    return f"listed by feed {feed}"


#: on a tie the later kind of evidence names the reset: a sighting over a feed's listing
#: over modified over valid_from
_ORDER: Final[Mapping[str, int]] = {"valid_from": 0, "modified": 1, "listed": 2, "sighting": 3}


def reset_of(
    obj: Mapping[str, Any],
    sighted: float | None,
    now: float,
    listed: tuple[float, str] | None = None,
) -> tuple[float, str]:
    """The reset time of indicator ``obj`` and what set it (see the module doc).
    ``listed``: when and by which feed the value was last listed (None: by none)."""
    found: list[tuple[float, str]] = []
    start = epoch(obj.get("valid_from"))
    if start is not None:
        found.append((start, "valid_from"))
    modified = epoch(obj.get("modified"))
    if modified is not None:
        found.append((min(modified, now), "modified"))
    if sighted is not None:
        found.append((min(sighted, now), "sighting"))
    if listed is not None:
        found.append((min(listed[0], now), "listed"))
    if not found:
        return now, "modified"
    moment, kind = max(found, key=lambda pair: (pair[0], _ORDER[pair[1]]))
    return moment, listed_by(listed[1]) if kind == "listed" and listed is not None else kind


def sighting_of(obj: Mapping[str, Any]) -> tuple[str, float] | None:
    """``(sighting_of_ref, time)`` of a sighting: its ``last_seen``, else ``first_seen``,
    else ``created``; None for anything else."""
    ref = obj.get("sighting_of_ref")
    if obj.get("type") != "sighting" or not isinstance(ref, str):
        return None
    for name in ("last_seen", "first_seen", "created"):
        moment = epoch(obj.get(name))
        if moment is not None:
            return ref, moment
    return None


SightingRow = tuple[int, str | None, tuple[str, ...], bytes]


def fold_sightings(
    seen: dict[str, float],
    rows: Iterable[SightingRow],
    policy: Policy | None,
    caller: Caller | None,
    now: float,
    wanted: Container[str] | None = None,
) -> int:
    """Keep in ``seen`` (indicator id -> time) the newest time each indicator was sighted
    in ``rows`` (seq, owner, markings, stored bytes of sighting versions), capped at ``now``
    (a sighting dated ahead counts as now), counting only what ``caller`` may see when a
    ``policy`` is given and, with ``wanted``, only those indicators. Returns the newest seq
    read (0 for none)."""
    last = 0
    for seq, owner, markings, raw in rows:
        last = max(last, seq)
        if policy is not None and caller is not None:
            view = policy.view(caller, owner, markings, raw)
            if view is None:
                continue
            raw = view
        found = sighting_of(orjson.loads(raw))
        if found is None or (wanted is not None and found[0] not in wanted):
            continue
        moment = min(found[1], now)
        if moment > seen.get(found[0], float("-inf")):
            seen[found[0]] = moment
    return last


class DecayModels:
    """The models in force, in order; ``model_for`` gives the first one a source matches."""

    def __init__(self, models: Sequence[DecayModel], *, enabled: bool = True) -> None:
        self.models = tuple(models) if enabled else ()
        self._by_source: dict[str, DecayModel | None] = {}

    def __bool__(self) -> bool:
        return bool(self.models)

    def model_for(self, source: str | None) -> DecayModel | None:
        if not self.models or source is None:
            return None
        if source not in self._by_source:
            self._by_source[source] = next(
                (m for m in self.models if any(fnmatch.fnmatchcase(source, g) for g in m.sources)),
                None,
            )
        return self._by_source[source]

    def decay(
        self,
        obj: Mapping[str, Any],
        source: str | None,
        kinds: Iterable[str],
        sighted: float | None,
        now: float,
        listed: tuple[float, str] | None = None,
    ) -> Decay | None:
        """The decay of indicator ``obj`` stored from ``source``; None when no model takes
        the source (the indicator does not decay). ``listed``: when and by which feed a
        full-snapshot feed last listed the value."""
        model = self.model_for(source)
        if model is None:
            return None
        base = model.base_of(obj.get("confidence"))
        lifetime = model.lifetime_s(kinds)
        reset, reset_by = reset_of(obj, sighted, now, listed)
        span = model.span(base, lifetime)
        return Decay(
            model=model.name,
            base=base,
            lifetime_s=lifetime,
            speed=model.speed,
            threshold=model.threshold,
            reset=reset,
            reset_by=reset_by,
            drops_at=None if span is None else reset + span,
        )


#: the shipped model: every feed's indicators
FEEDS_MODEL: Final = DecayModel(name="feeds", sources=("feed:*",))


def defaults() -> DecayModels:
    """The shipped models, as the settings give them untouched."""
    return DecayModels((FEEDS_MODEL,))


def _model(settings: DecayModelSettings) -> DecayModel:
    where = f"decay model {settings.name!r}"
    if not settings.sources:
        raise ConfigError(f'{where}: sources is empty; give globs such as "feed:*" or "*"')
    if settings.speed <= 0:
        raise ConfigError(f"{where}: speed must be above 0 (MISP's default model uses 0.3)")
    if not 0 <= settings.threshold < 100:
        raise ConfigError(f"{where}: threshold must be from 0 to under 100")
    lifetimes = dict(LIFETIME_DAYS)
    for kind, days in settings.lifetime_days.items():
        if kind not in LIFETIME_DAYS:
            raise ConfigError(
                f"{where}: lifetime_days names {kind!r}, not a key kind; use one of "
                + ", ".join(LIFETIME_DAYS)
            )
        lifetimes[kind] = days
    for kind, days in [*lifetimes.items(), ("default", settings.default_lifetime_days)]:
        if days <= 0:
            raise ConfigError(f"{where}: the lifetime of {kind} must be above 0 days")
    return DecayModel(
        name=settings.name,
        sources=tuple(settings.sources),
        threshold=settings.threshold,
        speed=settings.speed,
        default_base=settings.default_base,
        max_base=settings.max_base,
        base=settings.base,
        default_lifetime_days=settings.default_lifetime_days,
        lifetime_days=lifetimes,
    )


def from_settings(settings: DecaySettings) -> DecayModels:
    """The operator's models first (in their order), then the shipped one unless turned
    off; nothing when decay is switched off. A bad model raises ``ConfigError`` naming it."""
    models = [_model(m) for m in settings.models]
    if settings.shipped_model:
        models.append(FEEDS_MODEL)
    return DecayModels(models, enabled=settings.enabled)
