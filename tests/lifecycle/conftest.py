"""The lifecycle tests run feeds against the feed tests' local server."""

from tests.feeds.conftest import server

__all__ = ["server"]
