"""Exactly what ``langgraph.json`` names: the store, the checkpointer and the auth handler.

The server (``langgraph dev``, or a production server reading the same file) imports this
module and nothing else of the package by name, so the wiring of a deployment is read here.
"""

from casts.memory.auth.handler import auth
from casts.memory.store.persistence import make_checkpointer, make_store

__all__ = ["auth", "make_checkpointer", "make_store"]
