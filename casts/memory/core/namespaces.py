"""Every namespace the project uses, defined once.

Namespaces are hierarchical: the first label says who owns the data (``user``, ``team``,
``global``, ``session``), the second says which one, the rest says what kind of memory.
Searching a prefix such as ``("user", <id>)`` therefore returns everything one user owns,
and access rules (see ``owner_of``) can be decided from the namespace alone.

The store forbids ``.`` in labels, but real ids contain them (emails, domains). Ids are
therefore percent-encoded (``.`` -> ``%2E``, ``%`` -> ``%25``): reversible, and two different
ids never map to the same label.

Keys derived from text live here too (``text_key``): memories and knowledge facts avoid
duplicates, even from two threads writing at once, by keying an item on its normalized
text. Normalizing forgives only what never changes a statement's meaning (case, spacing,
the punctuation that ends a sentence); every other symbol can carry meaning: "-5 degrees"
is not "5 degrees" and "C++" is not "C".
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from casts.memory.core.errors import InvalidNamespaceError

Namespace = tuple[str, ...]
OwnerKind = Literal["user", "team", "global", "session"]

USER: OwnerKind = "user"
TEAM: OwnerKind = "team"
GLOBAL: OwnerKind = "global"
SESSION: OwnerKind = "session"
ROOTS: tuple[OwnerKind, ...] = (USER, TEAM, GLOBAL, SESSION)

RESERVED_ROOT = "langgraph"
MAX_LABEL_LENGTH = 200
MAX_DEPTH = 8

# Kinds of memory (the label after the owner).
PROFILE = "profile"
PREFERENCES = "preferences"
MEMORIES = "memories"
KNOWLEDGE = "knowledge"
WORKSPACE = "workspace"
MEMBERS = "members"
SCRATCH = "scratch"
FORMATION = "formation"


def encode_id(raw_id: str, *, what: str = "id") -> str:
    """Turn an external id into a store label, reversibly and without collisions.

    Args:
        raw_id: A user, team, session or topic id as the outside world spells it.
        what: Name of the id, used in the error message.

    Raises:
        InvalidNamespaceError: The id is not a non-empty string, contains NUL, or is too long.
    """
    if not isinstance(raw_id, str):
        raise InvalidNamespaceError(f"{what} must be a string, got {type(raw_id).__name__}")
    if not raw_id.strip():
        raise InvalidNamespaceError(f"{what} must not be empty")
    if "\x00" in raw_id:
        raise InvalidNamespaceError(f"{what} must not contain NUL characters")
    label = raw_id.replace("%", "%25").replace(".", "%2E")
    if len(label) > MAX_LABEL_LENGTH:
        raise InvalidNamespaceError(
            f"{what} is too long ({len(label)} characters encoded, at most {MAX_LABEL_LENGTH})"
        )
    return label


def decode_id(label: str) -> str:
    """Invert ``encode_id``."""
    return label.replace("%2E", ".").replace("%2e", ".").replace("%25", "%")


def validate_namespace(namespace: Namespace, *, prefix: bool = False) -> Namespace:
    """Check a namespace (or a prefix of one) against the store's and the project's rules.

    Args:
        namespace: The labels.
        prefix: Whether a partial namespace (for search or listing) is allowed.

    Returns:
        The namespace as a tuple.

    Raises:
        InvalidNamespaceError: Naming the offending label and why.
    """
    if isinstance(namespace, str) or not isinstance(namespace, (tuple, list)):
        raise InvalidNamespaceError(
            f"namespace must be a tuple of strings, got {type(namespace).__name__}"
        )
    namespace = tuple(namespace)
    if not namespace and not prefix:
        raise InvalidNamespaceError("namespace must not be empty")
    if len(namespace) > MAX_DEPTH:
        raise InvalidNamespaceError(f"namespace is deeper than {MAX_DEPTH} labels")
    for position, label in enumerate(namespace):
        where = f"namespace[{position}]"
        if not isinstance(label, str):
            raise InvalidNamespaceError(f"{where} must be a string, got {type(label).__name__}")
        if not label:
            raise InvalidNamespaceError(f"{where} must not be empty")
        if "." in label:
            raise InvalidNamespaceError(
                f"{where} {label!r} contains '.', which the store forbids; "
                "build namespaces with casts.memory.core.namespaces, which encodes ids"
            )
        if "\x00" in label:
            raise InvalidNamespaceError(f"{where} must not contain NUL characters")
        if len(label) > MAX_LABEL_LENGTH:
            raise InvalidNamespaceError(f"{where} is longer than {MAX_LABEL_LENGTH} characters")
    if namespace and namespace[0] == RESERVED_ROOT:
        raise InvalidNamespaceError(f"namespace[0] {RESERVED_ROOT!r} is reserved by LangGraph")
    return namespace


# --- user-scoped -----------------------------------------------------------------------


def user_root(user_id: str) -> Namespace:
    """Everything one user owns; the prefix for export, cleanup and access checks."""
    return (USER, encode_id(user_id, what="user_id"))


def user_profile(user_id: str) -> Namespace:
    """One item per profile field, so concurrent updates of different fields never clash."""
    return (*user_root(user_id), PROFILE)


def user_preferences(user_id: str) -> Namespace:
    """One item per preference (theme, language, ...)."""
    return (*user_root(user_id), PREFERENCES)


def user_memories(user_id: str) -> Namespace:
    """Free-form memories an agent keeps about a user; searched by recall."""
    return (*user_root(user_id), MEMORIES)


def user_knowledge(user_id: str, topic: str) -> Namespace:
    """Facts a user's agent has accumulated, one namespace per topic."""
    return (*user_root(user_id), KNOWLEDGE, encode_id(topic, what="topic"))


def user_knowledge_root(user_id: str) -> Namespace:
    """Prefix of all of a user's knowledge topics."""
    return (*user_root(user_id), KNOWLEDGE)


def user_formation(user_id: str) -> Namespace:
    """The memory manager's progress: one item per conversation thread, how far it has read."""
    return (*user_root(user_id), FORMATION)


# --- team-scoped -----------------------------------------------------------------------


def team_root(team_id: str) -> Namespace:
    """Everything one team (or org) owns."""
    return (TEAM, encode_id(team_id, what="team_id"))


def team_workspace(team_id: str) -> Namespace:
    """Context shared by a team across threads and users (project status, decisions)."""
    return (*team_root(team_id), WORKSPACE)


def team_members(team_id: str) -> Namespace:
    """Membership of a team: one item per member, keyed by user id."""
    return (*team_root(team_id), MEMBERS)


# --- global ----------------------------------------------------------------------------


def global_knowledge(topic: str) -> Namespace:
    """Knowledge shared by every user (curated, not written by one user's agent)."""
    return (GLOBAL, KNOWLEDGE, encode_id(topic, what="topic"))


# --- session-scoped --------------------------------------------------------------------


def session_root() -> Namespace:
    """Prefix of all session scratch data, for age-based cleanup."""
    return (SESSION,)


def user_sessions(user_id: str) -> Namespace:
    """Prefix of one user's sessions."""
    return (SESSION, encode_id(user_id, what="user_id"))


def session_scratch(user_id: str, session_id: str) -> Namespace:
    """Temporary data of one session of one user; deleted when the session ends."""
    return (*user_sessions(user_id), encode_id(session_id, what="session_id"), SCRATCH)


# --- ownership -------------------------------------------------------------------------


@dataclass(frozen=True)
class Owner:
    """Who a namespace belongs to: decides who may read or write it."""

    kind: OwnerKind
    id: str | None


def owner_of(namespace: Namespace) -> Owner:
    """Tell who owns a namespace, from its first two labels.

    Raises:
        InvalidNamespaceError: The namespace is not under one of the project's roots.
    """
    namespace = validate_namespace(namespace, prefix=True)
    if not namespace or namespace[0] not in ROOTS:
        raise InvalidNamespaceError(
            f"namespace must start with one of {', '.join(ROOTS)}; got {namespace!r}"
        )
    root = namespace[0]
    if root == GLOBAL:
        return Owner(GLOBAL, None)
    if len(namespace) < 2:
        return Owner(root, None)
    return Owner(root, decode_id(namespace[1]))


TRAILING_PUNCTUATION = ".!?;"
"""Sentence-ending marks dropped from the end of a statement (and only from its end)."""
KEY_DIGEST_CHARS = 32


def normalize_text(text: str) -> str:
    """The form two statements of one thing share.

    Case folded, runs of whitespace collapsed to one space, trailing ``.!?;`` dropped;
    everything else kept as written.
    """
    return " ".join(text.casefold().split()).rstrip(TRAILING_PUNCTUATION + " ")


def text_key(prefix: str, text: str) -> str:
    """A stable item key for ``text``: equal for texts that normalize equally."""
    digest = hashlib.sha256(normalize_text(text).encode()).hexdigest()
    return f"{prefix}{digest[:KEY_DIGEST_CHARS]}"
