"""The ``stix`` format: a STIX 2.x bundle at a URL, read by ``ingest.bundle.read_stix``.

The objects are stored as sent (a 2.0 bundle is upgraded); the feed's TLP, confidence and
labels are not written into them, since the sender's own markings are what they carry.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from mburoja.config import LimitSettings
from mburoja.feeds.formats.common import Item
from mburoja.ingest.bundle import read_stix

if TYPE_CHECKING:
    from mburoja.feeds.catalogue import FeedSpec


def read(
    data: bytes, origin: str, spec: FeedSpec, now: str, limits: LimitSettings
) -> Iterator[Item]:
    """The objects of a STIX bundle, envelope, list or single object."""
    return read_stix(data, origin, limits)
