"""A per-host rate limit for outbound fetches: never two requests to one host closer together
than ``interval_s``, however many feeds, workers threads or redirects lead there.

Several feeds often live on one host (abuse.ch serves URLhaus, Feodo Tracker and ThreatFox;
a MISP feed is a manifest plus one request per event). Without a limit a scheduler that finds
them all due at once, or a MISP feed of a thousand events, hammers that host, and a provider
that sees it blocks the CERT's address. ``HostLimiter.wait(host)`` blocks until the host's
next slot and books the one after it.

Thread-safe: the slot is *reserved* under the lock and slept for outside it, so two threads
wanting one host get consecutive slots and a thread waiting for one host never delays a thread
bound for another. The limit holds within one process; ``shared`` gives every fetcher of the
process the same limiter for an interval, so the feeds a scheduler runs in parallel share it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

Clock = Callable[[], float]
Sleep = Callable[[float], None]

#: Past this many hosts remembered, hosts whose next slot has passed are forgotten.
_PRUNE_AT = 1024


class HostLimiter:
    """Spaces requests to each host at least ``interval_s`` apart (0 or less: no limit).

    ``clock`` (monotonic seconds) and ``sleep`` are replaceable so tests need not wait."""

    def __init__(
        self, interval_s: float, *, clock: Clock = time.monotonic, sleep: Sleep = time.sleep
    ) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}  # host -> the earliest moment of its next request

    def wait(self, host: str) -> None:
        """Block until a request to ``host`` may be sent, and book the slot after it."""
        if self.interval_s <= 0:
            return
        key = host.lower()
        with self._lock:
            now = self._clock()
            slot = max(now, self._next.get(key, now))
            self._next[key] = slot + self.interval_s
            if len(self._next) > _PRUNE_AT:
                self._next = {h: t for h, t in self._next.items() if t > now}
        if slot > now:
            self._sleep(slot - now)


_shared: dict[float, HostLimiter] = {}
_shared_lock = threading.Lock()


def shared(interval_s: float) -> HostLimiter:
    """The process-wide limiter for ``interval_s``: every caller asking for the same interval
    gets the same one, so concurrent feed runs share each host's slots."""
    with _shared_lock:
        limiter = _shared.get(interval_s)
        if limiter is None:
            limiter = _shared[interval_s] = HostLimiter(interval_s)
        return limiter
