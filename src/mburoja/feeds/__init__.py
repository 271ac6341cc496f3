"""Feeds: the catalogue of sources Mburoja collects from, and a parser per published format.

``catalogue`` loads and checks the shipped ``catalogue.toml`` and user catalogues into
``FeedSpec`` values; ``formats`` turns one downloaded document of a feed into items for the
ingest pipeline. Fetching and scheduling build on these two.
"""
