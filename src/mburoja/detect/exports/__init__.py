"""Sensor exports: the active indicators a requester may see, in the formats sensors load.

One module per format, each a ``write_*`` function that takes compiled indicators
(:func:`~mburoja.detect.exports.source.gather` reads them from the store, through the
policy, for one organisation), writes deterministically (sorted by key, then indicator id)
and returns an :class:`ExportReport` whose counts add up: entries written per kind, and
every indicator or key left out with its reason. Each file starts with a comment header:
generator, time, the export's TLP level (the strictest among the indicators included),
the requester and the counts.

=========  ============================================================================
zeek       Zeek Intel framework file (:mod:`.zeek`)
suricata   datasets, hash lists, IP reputation and rules, in a directory (:mod:`.suricata`)
rpz        DNS response policy zone (:mod:`.rpz`)
nft        nftables script with interval sets (:mod:`.nft`)
csv        one row per value (:mod:`.flat`)
stix       STIX 2.1 bundle of every active indicator, compiled or not (:mod:`.flat`)
=========  ============================================================================
"""

from mburoja.detect.exports.flat import write_csv, write_stix
from mburoja.detect.exports.nft import write_nft
from mburoja.detect.exports.rpz import write_rpz
from mburoja.detect.exports.selection import COMPLEX, ExportOptions, ExportReport
from mburoja.detect.exports.source import Gathered, gather, raw_views
from mburoja.detect.exports.suricata import write_suricata
from mburoja.detect.exports.zeek import write_zeek

__all__ = [
    "COMPLEX",
    "ExportOptions",
    "ExportReport",
    "Gathered",
    "gather",
    "raw_views",
    "write_csv",
    "write_nft",
    "write_rpz",
    "write_stix",
    "write_suricata",
    "write_zeek",
]
