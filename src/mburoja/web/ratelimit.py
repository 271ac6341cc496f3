"""Sign-in throttling: at most N failures per user name and per client address in a
sliding window; then sign-in is refused until the oldest failure leaves the window."""

from __future__ import annotations

import threading
import time
from collections import deque

_MAX_KEYS = 100_000


class LoginLimiter:
    """Counts failures per key (``user:NAME``, ``addr:IP``) in this process."""

    def __init__(self, failures: int, window_s: int) -> None:
        self.failures = failures
        self.window_s = window_s
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, *keys: str) -> int:
        """Seconds until a sign-in for these keys is allowed again; 0: allowed now."""
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for key in keys:
                times = self._prune(key, now)
                if times is not None and len(times) >= self.failures:
                    wait = max(wait, times[0] + self.window_s - now)
        return int(wait) + 1 if wait > 0 else 0

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._seen) >= _MAX_KEYS:
                for key in list(self._seen):
                    self._prune(key, now)
            for key in keys:
                self._seen.setdefault(key, deque(maxlen=self.failures)).append(now)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._seen.pop(key, None)

    def _prune(self, key: str, now: float) -> deque[float] | None:
        times = self._seen.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._seen[key]
            return None
        return times
