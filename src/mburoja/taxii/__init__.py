"""TAXII 2.1: the server Mburoja offers and the client it pulls and pushes with."""
