"""The store behind every cast: rules, whole-namespace reads, persistence, embeddings.

``guarded`` (GuardedStore: the project's rules over any LangGraph store), ``reading``
(every item under a prefix, exactly once), ``persistence`` (the store and checkpointer
factories), ``embedded`` (the local PostgreSQL), ``embeddings`` (the semantic index),
``postgres`` (the project's own SQL helpers and schema lock), ``transfer`` (scan, export,
import, bulk writes), ``reindex``, ``blocking`` (the sync entry).
"""
