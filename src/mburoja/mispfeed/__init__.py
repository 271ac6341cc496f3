"""Mburoja as a MISP feed: what a MISP instance subscribes to (``manifest.json``,
``hashes.csv`` and one ``<uuid>.json`` per event), built from the store as one caller sees
it (:mod:`.build`), written by ``mburoja export misp-feed`` and served under ``/misp-feed/``
(:mod:`.http`)."""

from mburoja.mispfeed.build import Feed, build_event, build_feed, write_feed

__all__ = ["Feed", "build_event", "build_feed", "write_feed"]
