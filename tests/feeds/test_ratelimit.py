"""The per-host rate limit: spacing per host with a fake clock, and the Fetcher waiting on it
for every request it sends, redirect hops included."""

from __future__ import annotations

import threading

import httpx
import pytest

from mburoja.config import FetchSettings
from mburoja.errors import FetchRefused
from mburoja.feeds.ratelimit import HostLimiter, shared
from mburoja.ingest.fetch import Fetcher
from tests.feeds.feedserver import Document, FeedServer


class FakeTime:
    """A clock that moves only when slept on (or told to), and a log of the sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self.advance_on_sleep = True
        self._lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            if self.advance_on_sleep:
                self.now += seconds


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


def test_requests_to_one_host_are_spaced_and_other_hosts_are_not_delayed(fake: FakeTime) -> None:
    limiter = HostLimiter(2.0, clock=fake.clock, sleep=fake.sleep)

    limiter.wait("feeds.example")  # the first request to a host goes at once
    assert fake.sleeps == []
    limiter.wait("feeds.example")  # the second waits the whole interval
    assert fake.sleeps == [2.0] and fake.now == 102.0
    limiter.wait("other.example")  # another host is not held up by the first
    assert fake.sleeps == [2.0]
    fake.now += 0.5  # half an interval passes: the next slot is 1.5 s away
    limiter.wait("FEEDS.example")  # host names are case-insensitive
    assert fake.sleeps == [2.0, 1.5] and fake.now == 104.0
    fake.now += 10  # long after the last slot: no wait
    limiter.wait("feeds.example")
    assert fake.sleeps == [2.0, 1.5]


def test_racing_threads_get_consecutive_slots(fake: FakeTime) -> None:
    """Slots are booked under the lock: eight threads at the same instant wait 0, 1, ..., 7
    intervals, never two of them the same."""
    fake.advance_on_sleep = False  # the clock stands still: each wait is its slot's distance
    limiter = HostLimiter(1.0, clock=fake.clock, sleep=fake.sleep)
    start = threading.Barrier(8)

    def request() -> None:
        start.wait()
        limiter.wait("feeds.example")

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(fake.sleeps) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]  # the first went at once


def test_no_interval_means_no_waiting(fake: FakeTime) -> None:
    limiter = HostLimiter(0.0, clock=fake.clock, sleep=fake.sleep)
    for _ in range(3):
        limiter.wait("feeds.example")
    assert fake.sleeps == []


def test_shared_gives_one_limiter_per_interval() -> None:
    assert shared(1.25) is shared(1.25)
    assert shared(1.25) is not shared(2.5)
    assert shared(2.5).interval_s == 2.5


class Recorder:
    """A limiter that only notes the hosts it was asked to wait for."""

    def __init__(self) -> None:
        self.hosts: list[str] = []

    def wait(self, host: str) -> None:
        self.hosts.append(host)


def _redirecting(request: httpx.Request) -> httpx.Response:
    hops = {
        ("127.0.0.1", "/a"): "/b",  # same host
        ("127.0.0.1", "/b"): "http://127.0.0.2/c",  # another host
    }
    target = hops.get((request.url.host, request.url.path))
    if target is not None:
        return httpx.Response(302, headers={"Location": target})
    return httpx.Response(200, content=b"done")


def test_a_fetcher_waits_before_every_request_including_redirect_hops() -> None:
    settings = FetchSettings(allow_private=True)
    recorder = Recorder()
    transport = httpx.MockTransport(_redirecting)
    with Fetcher(settings, 1000, transport, limiter=recorder) as fetcher:
        got = fetcher.get("http://127.0.0.1/a")
    assert got.content == b"done" and got.url == "http://127.0.0.2/c"
    assert recorder.hosts == ["127.0.0.1", "127.0.0.1", "127.0.0.2"]


def test_a_refused_request_takes_no_slot() -> None:
    recorder = Recorder()
    transport = httpx.MockTransport(_redirecting)
    fetcher = Fetcher(FetchSettings(), 1000, transport, limiter=recorder)
    with fetcher, pytest.raises(FetchRefused, match="loopback"):
        fetcher.get("http://127.0.0.1/a")
    assert recorder.hosts == []


def test_two_fetches_from_a_real_server_are_spaced_by_the_limiter(
    server: FeedServer, fake: FakeTime
) -> None:
    server.documents["/list.txt"] = Document(b"192.0.2.1\n")
    limiter = HostLimiter(3.0, clock=fake.clock, sleep=fake.sleep)
    settings = FetchSettings(allow_private=True)
    with Fetcher(settings, 1000, limiter=limiter) as fetcher:
        first = fetcher.get(f"{server.base}/list.txt")
    with Fetcher(settings, 1000, limiter=limiter) as fetcher:  # another run, same limiter
        second = fetcher.get(f"{server.base}/list.txt")
    assert first.content == second.content == b"192.0.2.1\n"
    assert len(server.hits("/list.txt")) == 2
    assert fake.sleeps == [3.0]
