"""Recall: finding the memories most relevant to a query.

``search`` is the one entry point (``recall``, ``hybrid_search``); ``sql`` computes both
signals in PostgreSQL, ``lexical`` is BM25 in Python for other stores, and ``fusion``
blends the two signals, once for both backends.
"""
