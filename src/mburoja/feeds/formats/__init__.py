"""Feed formats: one small parser module per published format, and the registry of them.

Every parser has one signature, ``Parser``::

    def read(data: bytes, origin: str, spec: FeedSpec, now: str,
             limits: LimitSettings) -> Iterator[RawObject | Reject]

``data`` is one downloaded document, ``origin`` names it in objects and rejects (the feed
name or its URL), ``spec`` is the catalogue entry (TLP, confidence, labels, format options),
``now`` the ingest time as a STIX timestamp (``valid_from`` when the feed gives no first-seen
time) and ``limits`` the input caps. The items go straight to ``ingest.pipeline.Ingestor``.

What every parser promises:

* each data line (or JSON entry) gives its objects (the indicator, with the SCO and a
  ``based-on`` when the feed sets ``observables``, made by ``ingest.ioc_list.Converter``
  with ids of the feed's own, so a re-read is "unchanged") or
  exactly one ``Reject`` whose ``origin`` is ``"<origin>:line N"`` (``":entry N"`` for JSON)
  and whose reason says what is wrong; a value repeated in one document gives nothing more;
* values are refanged; the feed's TLP marks every object; its confidence and labels, with a
  row's own first-seen time, tags and confidence, go into the indicator;
* a document that is not the format at all raises ``InputFormatError``.

``misp-feed`` and ``taxii`` are not single documents: a MISP feed is a ``manifest.json`` and
one request per event, a TAXII collection is paged. They are listed in ``ROUTED`` so the
catalogue accepts them; a feed run reads them incrementally through
``feeds.incremental`` (the MISP importer per changed event, ``taxii.client.TaxiiClient``
per page) instead of a parser here, and ``read`` refuses them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Final

from mburoja.config import LimitSettings
from mburoja.errors import ConfigError, InputTooLarge
from mburoja.feeds.formats import (
    feodo,
    malwarebazaar,
    spamhaus,
    stix,
    table,
    text,
    threatfox,
    urlhaus,
)
from mburoja.feeds.formats.common import Item

if TYPE_CHECKING:
    from mburoja.feeds.catalogue import FeedSpec

Parser = Callable[[bytes, str, "FeedSpec", str, LimitSettings], Iterator[Item]]

#: Format name -> parser of one downloaded document.
FORMATS: Final[dict[str, Parser]] = {
    "text": text.read,
    "csv": table.read,
    "urlhaus-csv": urlhaus.read,
    "feodo-csv": feodo.read_csv,
    "feodo-json": feodo.read_json,
    "threatfox-json": threatfox.read,
    "malwarebazaar-csv": malwarebazaar.read,
    "spamhaus-drop": spamhaus.read,
    "stix": stix.read,
}

#: Formats that need several requests: name -> the importer the scheduler routes them to.
ROUTED: Final[dict[str, str]] = {
    "misp-feed": "mburoja.feeds.incremental (manifest, then each new or changed event)",
    "taxii": "mburoja.feeds.incremental (pages added after the feed's cursor)",
}


def known_formats() -> frozenset[str]:
    """Every format name a catalogue entry may give."""
    return frozenset(FORMATS) | frozenset(ROUTED)


def read(
    data: bytes, origin: str, spec: FeedSpec, now: str, limits: LimitSettings
) -> Iterator[Item]:
    """The items of one document of ``spec``'s feed, by its format (see the module docstring).

    Raises ``InputTooLarge`` past ``limits.max_input_bytes`` and ``ConfigError`` for a routed
    or unknown format."""
    parser = FORMATS.get(spec.format)
    if parser is None:
        where = ROUTED.get(spec.format)
        if where is not None:
            raise ConfigError(f"feed {spec.name!r}: format {spec.format!r} is fetched by {where}")
        raise ConfigError(f"feed {spec.name!r}: unknown format {spec.format!r}")
    if len(data) > limits.max_input_bytes:
        raise InputTooLarge(
            f"{origin}: input is {len(data):,} bytes, over the limit of "
            f"{limits.max_input_bytes:,} (setting limits.max_input_bytes)"
        )
    return parser(data, origin, spec, now, limits)
