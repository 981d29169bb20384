"""State of the knowledge cast, with separate input and output schemas for Studio."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from langgraph.channels.ephemeral_value import EphemeralValue
from typing_extensions import TypedDict

KnowledgeAction = Literal["add", "list", "search"]


class KnowledgeInput(TypedDict, total=False):
    """One request: add claims to a topic, list a topic, or search facts.

    Attributes:
        action: ``add`` (needs ``topic`` and ``claims``), ``list`` (the facts of ``topic``;
            without a topic only the topic names) or ``search`` (needs ``query``; ``topic``
            narrows it).
        topic: The topic, e.g. "billing-api".
        claims: For ``add``: objects with ``content``, ``source``, ``confidence`` (0-1) and
            optionally ``observed_at`` (ISO 8601 with offset) and ``supersedes`` (the key of
            the fact the claim replaces).
        query: For ``search``: the text to look for.
        include_superseded: Also return facts that were superseded.
        limit: For ``search``: how many facts to return (1-100, default 5).
    """

    action: Annotated[KnowledgeAction | None, EphemeralValue(KnowledgeAction | None)]
    topic: Annotated[str | None, EphemeralValue(str | None)]
    claims: Annotated[list[dict[str, Any]], EphemeralValue(list[dict[str, Any]])]
    query: Annotated[str | None, EphemeralValue(str | None)]
    include_superseded: Annotated[bool, EphemeralValue(bool)]
    limit: Annotated[int | None, EphemeralValue(int | None)]


class KnowledgeOutput(TypedDict, total=False):
    """The result of the run.

    Attributes:
        facts: The facts the run added/confirmed, listed or found (with ``key``).
        written: Keys of the items the run wrote (including facts it superseded).
        topics: The user's topics (for ``list``).
    """

    facts: list[dict[str, Any]]
    written: list[str]
    topics: list[str]


class KnowledgeState(KnowledgeInput, KnowledgeOutput):
    """Everything the nodes read and write.

    The thread keeps its state between runs. The request keys are ``EphemeralValue``
    channels: they live for the one run that sent them -- even when that run fails -- so a
    later run on the thread never replays or inherits an old request. Every node sets every
    output key, so a run never shows an older run's result.
    """


EMPTY_RESULT: KnowledgeOutput = {"facts": [], "written": [], "topics": []}
