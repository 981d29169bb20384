"""The memory layer every cast shares: identity, namespaces, records and persistence.

This package is not a graph. Casts import from it so that whose memory a run touches,
where each kind of memory lives, what a valid value is and which backend holds it are
each decided in exactly one place.
"""
