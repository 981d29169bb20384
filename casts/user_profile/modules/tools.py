"""Tools an agent can use on this cast's memory: the shared profile tools.

They live in ``casts.memory.tools`` because the memory agent offers the preference tools
too; a cast never imports another cast.
"""

from __future__ import annotations

from casts.memory import (
    PROFILE_TOOLS,
    get_preference,
    get_user_profile,
    set_preference,
    update_user_profile,
)

__all__ = [
    "PROFILE_TOOLS",
    "get_preference",
    "get_user_profile",
    "set_preference",
    "update_user_profile",
]
