"""The ``text`` format: a plain list, one value a line (OpenPhish, blocklist.de, CINS Army).

This is ``ingest.ioc_list.convert_text`` with the feed's options (``common.ioc_options``):
the same comment rules (``#``, ``;``, ``//``, a comment after the value) and refanging.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from mburoja.config import LimitSettings
from mburoja.feeds.formats import common
from mburoja.feeds.formats.common import Item
from mburoja.ingest.ioc_list import convert_text

if TYPE_CHECKING:
    from mburoja.feeds.catalogue import FeedSpec


def read(
    data: bytes, origin: str, spec: FeedSpec, now: str, limits: LimitSettings
) -> Iterator[Item]:
    """The objects of a plain-text list; rejects name their line."""
    return common.located(convert_text(data, origin, common.ioc_options(spec), now), origin)
