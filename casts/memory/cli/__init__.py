"""The ``memory-casts`` command: ``main`` parses, the other modules hold the subcommands."""

from casts.memory.cli.main import main

__all__ = ["main"]
