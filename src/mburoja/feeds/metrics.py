"""Prometheus metrics for feeds, read from the store at each scrape.

One series per feed that is enabled or in the store's registry (the shipped catalogue's dozens
of untouched, disabled entries would only be noise), so an alert can fire on a feed that is
unhealthy, failing, or overdue: ``time() - mburoja_feed_next_run_timestamp_seconds`` growing
means no scheduler is running it (a stalled feed is visible, never silent).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from mburoja.config import Settings
from mburoja.feeds import registry
from mburoja.feeds.scheduler import due_at
from mburoja.stix import timestamps
from mburoja.store.sql import SqlStore


class FeedCollector(Collector):
    """The ``mburoja_feed_*`` gauges, labelled by ``feed``."""

    def __init__(self, store: SqlStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def collect(self) -> Iterator[GaugeMetricFamily]:
        def family(name: str, text: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"mburoja_feed_{name}", text, labels=["feed"])

        enabled = family("enabled", "1 if the feed is switched on.")
        healthy = family("healthy", "0 once the feed failed feeds.unhealthy_after runs in a row.")
        failures = family("failures", "Failed runs in a row (0 after a good run).")
        last = family("last_run_timestamp_seconds", "When the last run ended (Unix time).")
        due = family("next_run_timestamp_seconds", "When an enabled feed is next due.")
        duration = family("last_run_duration_seconds", "How long the last run took.")
        size = family("last_run_bytes", "Bytes the last run downloaded.")
        received = family("last_run_received", "Items the last run read.")
        new = family("last_run_new", "New objects the last run stored.")
        rejected = family("last_run_rejected", "Items the last run quarantined.")
        up = family("last_run_ok", "1 unless the last run failed.")
        for feed in registry.all_feeds(self.store, self.settings):
            if not (feed.enabled or feed.registered):
                continue
            label = [feed.name]
            state = self.store.feed_state(feed.name)
            enabled.add_metric(label, 1.0 if feed.enabled else 0.0)
            healthy.add_metric(label, 1.0 if state.healthy else 0.0)
            failures.add_metric(label, float(state.failures))
            if feed.enabled:
                due.add_metric(label, due_at(feed.spec, state))
            if state.last_run:
                last.add_metric(label, timestamps.parse(state.last_run).timestamp())
            runs = self.store.feed_runs(feed.name, limit=1)
            if runs:
                run = runs[0]
                duration.add_metric(label, run.duration_s)
                size.add_metric(label, float(run.bytes))
                received.add_metric(label, float(run.received))
                new.add_metric(label, float(run.new))
                rejected.add_metric(label, float(run.rejected))
                up.add_metric(label, 0.0 if run.status == "failed" else 1.0)
        yield from (enabled, healthy, failures, last, due, duration, size, received, new)
        yield from (rejected, up)
