"""Exactly what ``langgraph.json`` names: the store, the checkpointer, the auth handler, the app.

The server (``langgraph dev``, or a production server reading the same file) imports this
module and nothing else of the package by name, so the wiring of a deployment is read here.
``app`` holds the project's own routes (the memory inspector at ``/memory``).
"""

from casts.memory.auth.handler import auth
from casts.memory.inspector.app import app
from casts.memory.store.persistence import make_checkpointer, make_store

__all__ = ["app", "auth", "make_checkpointer", "make_store"]
