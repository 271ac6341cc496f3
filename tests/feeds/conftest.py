"""The feed tests' local HTTP feed server (see feedserver.py), one per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.feeds.feedserver import FeedServer, feed_server


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with feed_server() as running:
        yield running
