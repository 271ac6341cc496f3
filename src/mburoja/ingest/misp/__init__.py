"""MISP events, attribute collections, object collections and feeds to STIX 2.1.

The mapping follows MISP's own exporter (misp-stix, MISP -> STIX 2.1), so that what a MISP
instance would publish as STIX and what Mburoja makes of the same event are the same objects
with the same ids:

* an event becomes a ``grouping`` (``report`` once published) with ``context``
  ``suspicious-activity``, its ``Orgc`` an ``identity`` named in ``created_by_ref``;
* an attribute becomes ``observed-data`` plus its SCOs, and, when ``to_ids`` is set, also an
  ``indicator`` and a ``based-on`` relationship; types that have no SCO become an indicator
  alone, an SDO (``vulnerability``, ``campaign``) or a ``x-misp-attribute`` custom object;
* a MISP object (``file``, ``email``, ``domain-ip``, ``ip-port``, ``url``,
  ``network-connection``, ``credential``, ``asn``, ``mutex``) likewise, other templates a
  ``x-misp-object``; galaxies become attack patterns, malware, tools, threat actors and so on;
* ids reuse the MISP uuids (``indicator--<attribute uuid>``); relationship ids are uuid5 of
  ``"<source> - <type> - <target>"`` in misp-stix's namespace, so a re-import is unchanged.

Deliberate differences from misp-stix: a value that cannot be what its type says (``ip-dst``
``999.1.1.1``, a short md5, ``domain|ip`` without ``|``) is a ``Reject`` naming the field,
not a custom object; and an event's TLP marking is carried onto every object made from it
(misp-stix marks only the grouping), because here access is decided per object.

Modules, each importing only those above it: ``values`` (checking and writing values),
``observables`` and ``templates`` (attribute types and object templates as SCOs and
patterns), ``state`` (the buffered output of one call), ``galaxy`` (tags, TLP and clusters),
``attribute`` and ``objects`` (one item each), ``event`` (events, collections and
``convert_events``) and ``feed`` (feed directories and their manifest).
"""

from mburoja.ingest.misp.event import convert_events
from mburoja.ingest.misp.feed import (
    ManifestEntry,
    convert_feed_dir,
    feed_event_paths,
    is_feed_dir,
    read_manifest,
)

__all__ = [
    "ManifestEntry",
    "convert_events",
    "convert_feed_dir",
    "feed_event_paths",
    "is_feed_dir",
    "read_manifest",
]
