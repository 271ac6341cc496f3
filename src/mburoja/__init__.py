"""Mburoja: collect, share, detect and counter hybrid threats, in STIX 2.1."""

__version__ = "0.1.0"
