"""Indicator decay: the score, the models, and dropping out of the index and the exports.

Times are explicit: ``DAY0`` is the indicators' valid_from and modified, and every refresh,
export and score is asked at a chosen day after it.
"""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest

from mburoja.cli.export_cmd import org_caller
from mburoja.config import DecayModelSettings, DecaySettings, Settings
from mburoja.detect.exports import gather, write_csv, write_zeek
from mburoja.detect.index import IndexFeed
from mburoja.errors import ConfigError
from mburoja.ingest.pipeline import Ingestor
from mburoja.lifecycle.decay import (
    DAY,
    DecayModel,
    DecayModels,
    defaults,
    from_settings,
    score,
    scores,
)
from mburoja.lifecycle.scores import recompute
from mburoja.stix import timestamps
from mburoja.stix.model import RawObject
from mburoja.store.sql import SqlStore
from tests.world import build_world

DAY0 = "2026-01-01T00:00:00.000Z"
T0 = timestamps.parse(DAY0).timestamp()
FEED_ID = "indicator--0000000a-2222-4222-8222-222222222222"
PLAIN_ID = "indicator--0000000b-2222-4222-8222-222222222222"
#: base 80, lifetime 30 days, speed 0.3, threshold 30: drops after 30 * 0.625^0.3 days,
#: 26.0547 days (worked out by hand: ln 0.625 = -0.470004, * 0.3 = -0.141001, exp = 0.868489)
DROP_DAYS = 26.0547
REASON = "decayed below threshold 30 (model feeds)"


def day(n: float) -> float:
    return T0 + n * DAY


def _indicator(object_id: str, address: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": object_id,
        "created": DAY0,
        "modified": DAY0,
        "name": f"address {address}",
        "pattern": f"[ipv4-addr:value = '{address}']",
        "pattern_type": "stix",
        "valid_from": DAY0,
        "confidence": 80,
        **extra,
    }


def _sighting(of: str, last_seen: str) -> dict[str, Any]:
    return {
        "type": "sighting",
        "spec_version": "2.1",
        "id": "sighting--0000000c-2222-4222-8222-222222222222",
        "created": last_seen,
        "modified": last_seen,
        "sighting_of_ref": of,
        "first_seen": last_seen,
        "last_seen": last_seen,
        "count": 1,
    }


def _ingest(
    store: SqlStore, settings: Settings, objects: list[dict[str, Any]], source: str
) -> None:

    items = (RawObject(orjson.dumps(o), source, i) for i, o in enumerate(objects))
    report = Ingestor(store, settings, workers=0).run(items, source=source, collection="shared")
    assert report.rejected == 0, report


def _load_feed_and_plain(store: SqlStore, settings: Settings) -> None:
    """One indicator from a feed (the shipped model takes it), one from elsewhere."""
    _ingest(store, settings, [_indicator(FEED_ID, "203.0.113.5")], "feed:urlhaus-recent")
    _ingest(store, settings, [_indicator(PLAIN_ID, "203.0.113.6")], "test")


def _day(n: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(day(n), UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


# -- the score -------------------------------------------------------------------------------


def test_score_follows_misp_polynomial_curve_worked_by_hand() -> None:
    # base 80, lifetime 30 d, speed 0.3, t = 15 d: (1/2)^(1/0.3) = 2^-3.3333 = 0.0992126,
    # so 80 * (1 - 0.0992126) = 72.0630
    assert score(80, 30 * DAY, 0.3, 15 * DAY) == pytest.approx(72.0630, abs=1e-3)
    # speed 1 is linear: 50 * (1 - 4/10) = 30
    assert score(50, 10 * DAY, 1.0, 4 * DAY) == pytest.approx(30.0)
    # speed 2: 60 * (1 - (9/25)^(1/2)) = 60 * 0.4 = 24
    assert score(60, 25.0, 2.0, 9.0) == pytest.approx(24.0)
    assert score(80, 30 * DAY, 0.3, 0) == 80
    assert score(80, 30 * DAY, 0.3, -5) == 80  # before the reset: the base
    assert score(80, 30 * DAY, 0.3, 30 * DAY) == 0
    assert score(80, 30 * DAY, 0.3, 400 * DAY) == 0


def test_vectorised_scores_equal_the_scalar_ones() -> None:
    import numpy as np

    base = np.array([80.0, 50.0, 60.0, 80.0, 80.0])
    life = np.array([30 * DAY, 10 * DAY, 25.0, 30 * DAY, 30 * DAY])
    speed = np.array([0.3, 1.0, 2.0, 0.3, 0.3])
    t = np.array([15 * DAY, 4 * DAY, 9.0, -1.0, 31 * DAY])
    assert scores(base, life, speed, t) == pytest.approx([72.0630, 30.0, 24.0, 80.0, 0.0], abs=1e-3)


def test_model_sets_base_lifetime_and_drop_moment() -> None:
    models = defaults()
    ip = _indicator(FEED_ID, "203.0.113.5")
    decay = models.decay(ip, "feed:urlhaus-recent", {"ip"}, None, day(1))
    assert decay is not None
    assert (decay.model, decay.base, decay.lifetime_s, decay.threshold) == (
        "feeds",
        80,
        30 * DAY,
        30,
    )
    assert decay.reset == T0
    assert decay.drops_at is not None
    assert (decay.drops_at - T0) / DAY == pytest.approx(DROP_DAYS, abs=1e-3)
    assert decay.active(day(26)) and not decay.active(day(26.1))
    # a file hash ages slowly: a year; an IP and a hash together age as fast as the IP
    assert models.decay(ip, "feed:x", {"sha256"}, None, day(1)).lifetime_s == 365 * DAY  # type: ignore[union-attr]
    assert models.decay(ip, "feed:x", {"sha256", "ip"}, None, day(1)).lifetime_s == 30 * DAY  # type: ignore[union-attr]
    # no confidence: the model's default base 50
    bare = {k: v for k, v in ip.items() if k != "confidence"}
    assert models.decay(bare, "feed:x", {"ip"}, None, day(1)).base == 50  # type: ignore[union-attr]
    # base at or under the threshold: never active
    weak = models.decay({**ip, "confidence": 30}, "feed:x", {"ip"}, None, day(1))
    assert weak is not None and weak.drops_at is None and not weak.active(T0)
    # other sources have no model in the shipped settings
    assert models.decay(ip, "misp:circl", {"ip"}, None, day(1)) is None
    assert models.decay(ip, "test", {"ip"}, None, day(1)) is None


def test_reset_is_the_newest_of_valid_from_modified_and_sighting() -> None:
    models = defaults()
    ip = _indicator(FEED_ID, "203.0.113.5", modified=_day(3))
    decay = models.decay(ip, "feed:x", {"ip"}, day(5), day(10))
    assert decay is not None and (decay.reset, decay.reset_by) == (day(5), "sighting")
    decay = models.decay(ip, "feed:x", {"ip"}, day(2), day(10))
    assert decay is not None and (decay.reset, decay.reset_by) == (day(3), "modified")
    # a sighting dated ahead counts as now
    decay = models.decay(ip, "feed:x", {"ip"}, day(400), day(10))
    assert decay is not None and decay.reset == day(10)


def test_settings_add_models_first_match_wins_and_switch_decay_off() -> None:
    mine = DecayModelSettings(
        name="partners", sources=["taxii:*", "misp:*"], threshold=20, lifetime_days={"ip": 7}
    )
    models = from_settings(DecaySettings(models=[mine]))
    assert [m.name for m in models.models] == ["partners", "feeds"]
    partner = models.model_for("taxii:https://hub.example/api/collections/1/")
    assert partner is not None and partner.name == "partners"
    assert partner.lifetime_s({"ip"}) == 7 * DAY and partner.lifetime_s({"domain"}) == 90 * DAY
    assert models.model_for("feed:openphish").name == "feeds"  # type: ignore[union-attr]
    assert models.model_for("test") is None
    every = from_settings(DecaySettings(models=[DecayModelSettings(name="all", sources=["*"])]))
    assert every.model_for("test").name == "all"  # type: ignore[union-attr]
    assert not from_settings(DecaySettings(enabled=False))
    assert not from_settings(DecaySettings(shipped_model=False))


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (DecayModelSettings(name="m", sources=[]), "decay model 'm': sources is empty"),
        (DecayModelSettings(name="m", sources=["*"], speed=0), "decay model 'm': speed"),
        (DecayModelSettings(name="m", sources=["*"], threshold=100), "decay model 'm': threshold"),
        (
            DecayModelSettings(name="m", sources=["*"], lifetime_days={"ipv4": 3}),
            "lifetime_days names 'ipv4', not a key kind",
        ),
        (
            DecayModelSettings(name="m", sources=["*"], lifetime_days={"ip": 0}),
            "the lifetime of ip must be above 0",
        ),
    ],
)
def test_bad_models_are_refused_naming_model_and_field(
    model: DecayModelSettings, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        from_settings(DecaySettings(models=[model]))


# -- the index ---------------------------------------------------------------------------


def test_index_drops_a_feed_indicator_at_the_threshold_and_a_sighting_brings_it_back(
    store: SqlStore, settings: Settings
) -> None:
    _load_feed_and_plain(store, settings)
    feed = IndexFeed(store)
    delta = feed.refresh(now=day(20))
    assert sorted(c.id for c in delta.added) == [FEED_ID, PLAIN_ID]
    assert not feed.refresh(now=day(26))  # still above the threshold
    delta = feed.refresh(now=day(27))
    assert delta.removed == [FEED_ID] and delta.added == []
    assert feed.report().decayed == 1 and feed.report().expired == 0
    assert set(feed.active) == {PLAIN_ID}
    # still stored and searchable
    assert [h.id for h in store.search("203.0.113.5").hits] == [FEED_ID]
    # a sighting reset the score: back in at once, and out again one drop span later
    _ingest(store, settings, [_sighting(FEED_ID, _day(26.5))], "test")
    delta = feed.refresh(now=day(27))
    assert [c.id for c in delta.added] == [FEED_ID] and delta.removed == []
    assert feed.report().decayed == 0
    assert not feed.refresh(now=day(26.5 + DROP_DAYS - 0.01))
    assert feed.refresh(now=day(26.5 + DROP_DAYS + 0.01)).removed == [FEED_ID]
    # the indicator without a model never decays
    assert set(feed.active) == {PLAIN_ID}
    assert not feed.refresh(now=day(1000))


def test_a_sighting_of_an_active_indicator_pushes_its_drop_later(
    store: SqlStore, settings: Settings
) -> None:
    _load_feed_and_plain(store, settings)
    feed = IndexFeed(store)
    feed.refresh(now=day(10))
    _ingest(store, settings, [_sighting(FEED_ID, _day(9))], "test")
    assert not feed.refresh(now=day(27))  # would have dropped at 26.05 without the sighting
    assert feed.refresh(now=day(9 + DROP_DAYS + 0.01)).removed == [FEED_ID]


def test_an_index_started_late_holds_a_decayed_indicator_out_from_the_start(
    store: SqlStore, settings: Settings
) -> None:
    _load_feed_and_plain(store, settings)
    weak = _indicator("indicator--0000000d-2222-4222-8222-222222222222", "203.0.113.7")
    _ingest(store, settings, [{**weak, "confidence": 25}], "feed:weak")
    feed = IndexFeed(store)
    delta = feed.refresh(now=day(27))
    assert [c.id for c in delta.added] == [PLAIN_ID]
    assert feed.report().decayed == 2
    # the one at confidence 25 is under the threshold from the start: never active
    feed = IndexFeed(store)
    assert sorted(c.id for c in feed.refresh(now=day(1)).added) == [FEED_ID, PLAIN_ID]


def test_decay_switched_off_changes_nothing(store: SqlStore, settings: Settings) -> None:
    _load_feed_and_plain(store, settings)
    feed = IndexFeed(store, decay=from_settings(DecaySettings(enabled=False)))
    assert sorted(c.id for c in feed.refresh(now=day(500)).added) == [FEED_ID, PLAIN_ID]
    assert feed.report().decayed == 0


def test_a_model_for_every_source_decays_the_other_indicator_too(
    store: SqlStore, settings: Settings
) -> None:
    _load_feed_and_plain(store, settings)
    every = DecayModels((DecayModel(name="all", sources=("*",)),))
    feed = IndexFeed(store, decay=every)
    assert len(feed.refresh(now=day(1)).added) == 2
    assert sorted(feed.refresh(now=day(27)).removed) == [FEED_ID, PLAIN_ID]


# -- the exports -------------------------------------------------------------------------


def test_exports_leave_a_decayed_indicator_out_count_it_and_take_it_back_after_a_sighting(
    store: SqlStore, settings: Settings
) -> None:
    build_world(store, settings)
    _load_feed_and_plain(store, settings)
    caller, name = org_caller(store, None)
    early = gather(store, caller, name, at=_day(20))
    assert sorted(c.id for c in early.indicators) == [FEED_ID, PLAIN_ID]
    assert early.options.decayed == {}
    late = gather(store, caller, name, at=_day(27))
    assert [c.id for c in late.indicators] == [PLAIN_ID]
    assert [(c.id, d.model) for c, d in late.decayed] == [(FEED_ID, "feeds")]
    assert late.options.decayed == {REASON: 1}
    for write in (write_csv, write_zeek):
        out = io.StringIO()
        report = write(late.indicators, out, late.options)
        assert report.skipped == {REASON: 1}
        assert "203.0.113.5" not in out.getvalue() and "203.0.113.6" in out.getvalue()
        assert f"skipped: 1 {REASON}" in out.getvalue()
    # decay off: both exported
    off = gather(store, caller, name, at=_day(27), decay=DecayModels(()))
    assert sorted(c.id for c in off.indicators) == [FEED_ID, PLAIN_ID]
    # a sighting brings it back
    _ingest(store, settings, [_sighting(FEED_ID, _day(26.5))], "test")
    back = gather(store, caller, name, at=_day(27))
    assert sorted(c.id for c in back.indicators) == [FEED_ID, PLAIN_ID]
    assert back.options.decayed == {}


def test_recompute_counts_by_model_and_under_threshold(store: SqlStore, settings: Settings) -> None:
    _load_feed_and_plain(store, settings)
    early = recompute(store, defaults(), now=day(20))
    assert (early.indicators, early.decaying, early.below, early.no_model) == (2, 1, 0, 1)
    assert early.by_model["feeds"].indicators == 1
    # at day 20: 80 * (1 - (20/30)^(1/0.3)); (2/3)^3.3333 = 0.259 (by hand: ln 2/3 = -0.405465,
    # * 3.3333 = -1.351550, exp = 0.258850), so 80 * 0.741150 = 59.29
    assert early.by_model["feeds"].mean_score == pytest.approx(59.29, abs=0.01)
    late = recompute(store, defaults(), now=day(27))
    assert (late.below, late.by_model["feeds"].below) == (1, 1)
    assert recompute(store, DecayModels(()), now=day(27)).no_model == 2


def test_the_index_status_counts_decayed_and_warning_listed_indicators_apart(
    store: SqlStore, settings: Settings
) -> None:
    """The detection page's index status says what the detector holds: a decayed feed
    indicator and a warning-listed one are counted apart, not as active; a sighting the
    caller may see brings the decayed one back."""
    from mburoja.detect.status import index_status

    build_world(store, settings)
    _load_feed_and_plain(store, settings)
    resolver = "indicator--0000000d-2222-4222-8222-222222222222"
    _ingest(store, settings, [_indicator(resolver, "8.8.8.8")], "test")
    caller, _name = org_caller(store, None)
    policy = store.policy()
    early = index_status(store, policy, caller, now=day(20))
    assert (early.active, early.decayed, early.warning_listed) == (2, 0, 1)
    late = index_status(store, policy, caller, now=day(27))
    assert (late.active, late.decayed, late.warning_listed) == (1, 1, 1)
    assert late.by_kind == {"ip": 1}
    off = index_status(store, policy, caller, now=day(27), models=DecayModels(()))
    assert (off.active, off.decayed) == (2, 0)
    _ingest(store, settings, [_sighting(FEED_ID, _day(26.5))], "test")
    back = index_status(store, policy, caller, now=day(27))
    assert (back.active, back.decayed, back.warning_listed) == (2, 0, 1)
