"""Prometheus metrics for federation, read from the store at each scrape.

Every figure ``mburoja peer status`` shows is here, per peer, so an alert can fire on a
growing outbox, a stale last success or a rising count of rejected objects.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from mburoja.store.sql import SqlStore

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _epoch(stamp: str | None) -> float | None:
    if not stamp:
        return None
    seconds = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
    return seconds + float("0" + stamp[19:-1]) if stamp[19:20] == "." else float(seconds)


class FederationCollector(Collector):
    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        peers = self.store.federation_status()
        gauges = {
            "outbox_depth": ("Versions owed to the peer and not yet accepted.", "pending"),
            "outbox_failed": ("Versions the peer refused, kept with its reason.", "failed"),
            "lag_seconds": ("Age of the oldest version still owed to the peer.", "lag_s"),
        }
        for name, (text, field) in gauges.items():
            family = GaugeMetricFamily(f"mburoja_peer_{name}", text, labels=["peer"])
            for peer in peers:
                family.add_metric([peer.name], float(getattr(peer, field)))
            yield family
        counters = {
            "delivered": "Versions the peer accepted.",
            "withheld": "Versions dropped from the outbox because a newer marking forbids them.",
            "refused": "Refusals the peer reported.",
            "received": "Versions the peer sent that were accepted here.",
            "rejected": "Versions the peer sent that were quarantined here.",
        }
        for name, text in counters.items():
            family_c = CounterMetricFamily(f"mburoja_peer_{name}", text, labels=["peer"])
            for peer in peers:
                family_c.add_metric([peer.name], float(getattr(peer, name)))
            yield family_c
        last = GaugeMetricFamily(
            "mburoja_peer_last_success_timestamp_seconds",
            "When the peer last accepted a push (Unix time).",
            labels=["peer"],
        )
        push_lag = GaugeMetricFamily(
            "mburoja_peer_push_lag_seconds",
            "Commit here to accepted there, for the last pushed batch.",
            labels=["peer"],
        )
        up = GaugeMetricFamily(
            "mburoja_peer_up", "1 unless the last exchange with the peer failed.", labels=["peer"]
        )
        for peer in peers:
            when = _epoch(peer.last_success)
            if when is not None:
                last.add_metric([peer.name], when)
            if peer.last_lag_s is not None:
                push_lag.add_metric([peer.name], peer.last_lag_s)
            up.add_metric([peer.name], 0.0 if peer.last_error else 1.0)
        yield last
        yield push_lag
        yield up


def metrics_registry(store: SqlStore) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FederationCollector(store))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
