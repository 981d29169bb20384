"""The memory kinds: profiles and preferences, memories, knowledge, workspaces, scratch.

Each module reads and writes one kind through the store's public API; ``forgetting``
removes everything of one user across all of them.
"""
