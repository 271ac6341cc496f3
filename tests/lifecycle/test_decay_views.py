"""The decay score where people look: the object view, search, their API and web forms, and
``mburoja decay show`` / ``recompute``."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
from typer.testing import CliRunner

from mburoja.cli.export_cmd import org_caller
from mburoja.cli.main import app
from mburoja.config import Settings
from mburoja.lifecycle.decay import DAY, defaults
from mburoja.lifecycle.scores import ABOVE, BELOW
from mburoja.store.sql import SqlStore
from mburoja.web.lookup import Filters, search
from mburoja.web.objects import object_view
from tests.lifecycle.test_decay import (
    DROP_DAYS,
    FEED_ID,
    PLAIN_ID,
    _day,
    _indicator,
    _ingest,
    _load_feed_and_plain,
    day,
)
from tests.web.conftest import Web, web, web_store  # noqa: F401 (the served-app fixtures)
from tests.world import build_world


def test_object_view_and_search_show_the_score_for_indicators_with_a_model(
    store: SqlStore, settings: Settings
) -> None:
    build_world(store, settings)
    _load_feed_and_plain(store, settings)
    caller, _name = org_caller(store, None)
    policy = store.policy()
    view = object_view(store, policy, caller, FEED_ID, decay=defaults(), now=day(20))
    assert view.decay is not None
    assert (view.decay.model, view.decay.base, view.decay.threshold) == ("feeds", 80, 30)
    assert view.decay.lifetime_days == 30
    # 80 * (1 - (2/3)^(1/0.3)) = 59.29 (worked out in test_decay)
    assert abs(view.decay.score - 59.29) < 0.01
    assert (view.decay.reset, view.decay.reset_by) == ("2026-01-01T00:00:00.000Z", "modified")
    assert view.decay.drops_below is not None and view.decay.drops_below.startswith("2026-01-27T01")
    assert (view.decay.below_threshold, view.decay.note) == (False, ABOVE)
    late = object_view(store, policy, caller, FEED_ID, decay=defaults(), now=day(27))
    assert late.decay is not None and late.decay.score < 30
    assert (late.decay.below_threshold, late.decay.note) == (True, BELOW)
    # no model for its source, or no models at all: nothing shown
    assert object_view(store, policy, caller, PLAIN_ID, decay=defaults(), now=day(27)).decay is None
    assert object_view(store, policy, caller, FEED_ID, now=day(27)).decay is None
    found = search(
        store, policy, caller, Filters(query="203.0.113.5"), decay=defaults(), now=day(27)
    )
    assert [(h.id, h.decay.below_threshold if h.decay else None) for h in found.hits] == [
        (FEED_ID, True)
    ]


def test_cli_shows_and_recomputes(
    store_url: str, store: SqlStore, settings: Settings, tmp_path: Path
) -> None:
    _load_feed_and_plain(store, settings)
    config = tmp_path / "mburoja.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[store]\nurl = "{store_url}"\n', encoding="utf-8"
    )
    runner = CliRunner()

    def flat(text: str) -> str:  # rich wraps long lines at the terminal width
        return " ".join(text.split())

    base = ["--config", str(config), "decay"]
    shown = runner.invoke(app, [*base, "show", FEED_ID, "--at", _day(27), "--json"])
    assert shown.exit_code == 0, shown.output
    decay = orjson.loads(shown.stdout)["decay"]
    assert (decay["model"], decay["below_threshold"], decay["note"]) == ("feeds", True, BELOW)
    text = runner.invoke(app, [*base, "show", FEED_ID, "--at", _day(20)])
    assert text.exit_code == 0, text.output
    assert "feeds" in text.stdout and ABOVE in flat(text.stdout)
    plain = runner.invoke(app, [*base, "show", PLAIN_ID])
    assert "does not decay: no decay model takes its source 'test'" in flat(plain.stdout)
    missing = runner.invoke(app, [*base, "show", "indicator--00000000-0000-4000-8000-000000000000"])
    assert missing.exit_code == 1 and "no indicator" in flat(missing.output)
    bad = runner.invoke(app, [*base, "show", FEED_ID, "--at", "yesterday"])
    assert bad.exit_code == 1 and "is not a timestamp" in flat(bad.output)
    job = runner.invoke(app, [*base, "recompute", "--at", _day(27), "--json"])
    assert job.exit_code == 0, job.output
    counts = orjson.loads(job.stdout)
    assert (counts["indicators"], counts["below"], counts["no_model"]) == (2, 1, 1)
    assert counts["by_model"]["feeds"]["below"] == 1
    table = runner.invoke(app, [*base, "recompute", "--at", _day(27)])
    assert table.exit_code == 0 and "1 under their threshold" in flat(table.stdout)
    config.write_text(
        config.read_text(encoding="utf-8") + "[decay]\nenabled = false\n", encoding="utf-8"
    )
    off = runner.invoke(app, [*base, "show", FEED_ID])
    assert "decay is switched off" in flat(off.stdout)


def _recent(days_ago: float) -> str:
    moment = datetime.fromtimestamp(time.time() - days_ago * DAY, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_api_view_search_and_the_object_page_carry_the_score(web: Web) -> None:  # noqa: F811
    world = web.world
    stale_id = "indicator--0000000e-2222-4222-8222-222222222222"
    fresh_id = "indicator--0000000f-2222-4222-8222-222222222222"
    stale = _recent(DROP_DAYS + 5)
    fresh = _recent(1)
    _ingest(
        world.store,
        world.settings,
        [
            _indicator(stale_id, "203.0.113.15", valid_from=stale, created=stale, modified=stale),
            _indicator(fresh_id, "203.0.113.16", valid_from=fresh, created=fresh, modified=fresh),
        ],
        "feed:urlhaus-recent",
    )
    with world.client("same", Accept="application/json") as client:
        got = client.get(f"/api/objects/{stale_id}/view")
        assert got.status_code == 200, got.text
        decay = got.json()["decay"]
        assert (decay["model"], decay["below_threshold"], decay["note"]) == ("feeds", True, BELOW)
        assert decay["score"] < 30 and decay["reset"] == stale
        fresh_view = client.get(f"/api/objects/{fresh_id}/view").json()["decay"]
        assert fresh_view["below_threshold"] is False and fresh_view["score"] > 79
        hits = client.get("/api/search", params={"q": "203.0.113.15"}).json()["hits"]
        assert [(h["id"], h["decay"]["below_threshold"]) for h in hits] == [(stale_id, True)]
        other = client.get("/api/search", params={"q": "secret.example"}).json()["hits"]
        assert all(h["decay"] is None for h in other)
    with web.client() as browser:
        web.sign_in(browser, "same")
        page = browser.get(f"/objects/{stale_id}")
        assert page.status_code == 200
        assert 'id="decay"' in page.text and BELOW in page.text
        listing = browser.get("/search", params={"q": "203.0.113.15"})
        assert BELOW in listing.text
