"""Knowledge: facts that accumulate per topic, with provenance, never silently overwritten.

Rules (the same for the knowledge cast, its tools and any other cast that reuses them):

- **Identity of a claim.** A fact's key is a hash of its *normalised* text (case folded,
  whitespace collapsed, trailing ``.!?;`` dropped; every other symbol kept, so "-5 degrees"
  and "5 degrees", or "C" and "C++", are different claims). Stating the same claim again
  therefore lands on the same fact: it is *confirmed* (``confirmations`` + 1, the new source
  added to ``sources``, ``confidence`` the maximum seen, ``observed_at`` the latest
  observation) instead of being stored twice -- even when two threads state it at once.
- **Contradiction.** A claim that replaces an earlier one names it: ``supersedes=<key>``
  (keys come back from every listing and search). The old fact is kept, marked
  ``status="superseded"`` with ``superseded_by`` and ``superseded_at``; the new fact records
  ``supersedes``. Nothing is deleted, so the history of a topic stays auditable. Only a
  current fact can be superseded (superseding a superseded fact is refused, naming the fact
  that replaced it), and a superseded claim stated again without ``supersedes`` is
  confirmed but stays superseded. Stating it again *with* ``supersedes=<its successor>``
  makes it current again.
- **Reading.** Listing and search return current facts unless asked for superseded ones too.

Storage, chosen so that no confirmation can be lost: a fact is a ``records.FactEntry`` in
``namespaces.user_knowledge(user_id, topic)`` (``content`` holds the claim, so the semantic
index embeds it) plus one ``records.Statement`` item per statement, under a fresh key, in
``statements_namespace`` -- a sibling of the knowledge namespaces, so listing and searching
a topic never meet them. A confirmation only *adds* a statement; nothing reads, changes
and writes back a shared counter, so concurrent confirmations all survive on every
backend. ``confirmations``, ``sources``, ``confidence`` and ``observed_at`` are derived from
the statements when a fact is read.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from langgraph.store.base import BaseStore, GetOp, PutOp, SearchItem
from pydantic import Field, field_validator

from casts.memory.core import namespaces
from casts.memory.core.errors import InvalidNamespaceError, InvalidValueError
from casts.memory.core.namespaces import Namespace, normalize_text, text_key
from casts.memory.core.records import (
    Fact,
    FactEntry,
    Record,
    Statement,
    as_utc,
    parse_record,
    utc_now,
)
from casts.memory.core.values import validate_key
from casts.memory.recall.search import recall
from casts.memory.store.reading import asearch_all

CURRENT_ONLY = {"status": "current"}
MAX_CLAIMS = 100
MAX_SEARCH_LIMIT = 100
_TOPIC_PAGE = 100
STATEMENTS = "knowledge_statements"
"""Label that takes the place of ``knowledge`` in the namespaces of statements."""


class Claim(Record):
    """One claim to add to a topic, as a caller (a person, a client, a model) states it.

    Attributes:
        content: The claim itself, e.g. "The API rate limit is 100 requests per minute".
        source: Where it comes from (a URL, a document, "user said in thread X").
        confidence: How sure the source is, from 0 to 1.
        observed_at: When it was observed (timezone-aware ISO 8601); now when omitted.
        supersedes: Key of the current fact this claim contradicts and replaces.
    """

    content: str = Field(min_length=1, max_length=4000)
    source: str = Field(min_length=1, max_length=500)
    confidence: float = Field(ge=0.0, le=1.0)
    observed_at: datetime | None = None
    supersedes: str | None = Field(default=None, min_length=1, max_length=256)

    @field_validator("observed_at")
    @classmethod
    def _aware(cls, moment: datetime | None) -> datetime | None:
        if moment is not None and moment.tzinfo is None:
            raise ValueError("must include a timezone offset, e.g. 2025-01-31T12:00:00+00:00")
        return moment


@dataclass
class StoredFact:
    """A fact with the key it is stored under (and its score when found by search)."""

    key: str
    fact: Fact
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A plain JSON object for state, tool results and the CLI."""
        data: dict[str, Any] = {"key": self.key, **self.fact.to_value()}
        if self.score is not None:
            data["score"] = self.score
        return data


@dataclass
class AddResult:
    """What ``add_facts`` wrote: the facts the claims created or confirmed, and others touched.

    Attributes:
        facts: One entry per distinct claim, in input order, as now stored.
        superseded: Facts this call marked as superseded.
    """

    facts: list[StoredFact] = field(default_factory=list)
    superseded: list[StoredFact] = field(default_factory=list)

    @property
    def written(self) -> list[str]:
        """Keys of every item written."""
        return [stored.key for stored in (*self.facts, *self.superseded)]


def statements_namespace(fact_namespace: Namespace, key: str | None = None) -> Namespace:
    """Where the statements of a topic's facts (of fact ``key``, when given) are stored.

    ``(..., "knowledge", <topic>)`` becomes ``(..., "knowledge_statements", <topic>, <key>)``:
    the same owner, so exporting or deleting a user's data includes them, but outside the
    knowledge prefix, so listing and searching facts never return a statement.
    """
    *owner, _knowledge, topic = fact_namespace
    return (*owner, STATEMENTS, topic, *([key] if key else []))


def fact_key(text: str) -> str:
    """The item key of a claim: stable, so the same claim always lands on the same item."""
    return text_key("fact-", text)


def check_topic(topic: Any, *, field: str = "topic") -> str:
    """A topic is a non-empty string that fits in a namespace label.

    Raises:
        InvalidValueError: Naming ``field``.
    """
    if not isinstance(topic, str) or not topic.strip():
        raise InvalidValueError(field, "must be a non-empty string naming the topic")
    topic = topic.strip()
    try:
        namespaces.encode_id(topic, what=field)
    except InvalidNamespaceError as error:
        raise InvalidValueError(field, str(error)) from None
    return topic


def parse_claims(claims: Any, *, field: str = "claims") -> list[Claim]:
    """Validate every claim before anything is read or written.

    Raises:
        InvalidValueError: Naming the claim and field (``claims[1].confidence``).
    """
    if not isinstance(claims, Sequence) or isinstance(claims, (str, bytes)):
        raise InvalidValueError(field, "must be a list of claims")
    if not claims:
        raise InvalidValueError(field, "must contain at least one claim")
    if len(claims) > MAX_CLAIMS:
        raise InvalidValueError(field, f"has {len(claims)} claims, at most {MAX_CLAIMS}")
    parsed = []
    for position, raw in enumerate(claims):
        where = f"{field}[{position}]"
        claim = raw if isinstance(raw, Claim) else parse_record(Claim, raw, field=where)
        if not normalize_text(claim.content):
            raise InvalidValueError(f"{where}.content", "must say something, not only punctuation")
        if claim.supersedes is not None:
            validate_key(claim.supersedes, field=f"{where}.supersedes")
        parsed.append(claim)
    return parsed


def _entry(value: dict[str, Any]) -> FactEntry:
    """The claim part of a stored fact (facts stored before statements also hold more)."""
    return FactEntry.model_validate(
        {name: value[name] for name in FactEntry.model_fields if name in value}
    )


def _later(first: str, second: str) -> str:
    """The later of two ISO times, compared as aware datetimes, not as text."""
    a, b = as_utc(datetime.fromisoformat(first)), as_utc(datetime.fromisoformat(second))
    return first if a >= b else second


def _stated_order(item: SearchItem) -> tuple[datetime, str]:
    return as_utc(datetime.fromisoformat(item.value["stated_at"])), item.key


def _assemble(value: dict[str, Any], statements: list[SearchItem]) -> Fact | None:
    """A fact as readers see it: its stored entry and every statement of it.

    Facts written before statements were kept apart carry their own ``confirmations``,
    ``sources``, ``confidence`` and ``observed_at``; those count as earlier statements, so
    upgrading loses nothing. Returns None for an entry without any statement yet.
    """
    count = int(value.get("confirmations") or 0)
    sources = list(value.get("sources") or [value.get("source")]) if count else []
    confidences = [float(value["confidence"])] if count else []
    observed = [str(value["observed_at"])] if count else []
    ordered = [
        Statement.model_validate(item.value) for item in sorted(statements, key=_stated_order)
    ]
    for statement in ordered:
        sources.append(statement.source)
        confidences.append(statement.confidence)
        observed.append(statement.observed_at)
    if not confidences:
        return None
    latest = observed[0]
    for moment in observed[1:]:
        latest = _later(latest, moment)
    distinct = list(dict.fromkeys(source for source in sources if source))
    return Fact(
        **_entry(value).model_dump(),
        source=distinct[0],
        sources=distinct,
        confidence=max(confidences),
        observed_at=latest,
        confirmations=count + len(ordered),
    )


FactRow = tuple[Namespace, str, dict[str, Any], float | None]
"""A stored fact entry to assemble: its namespace, key, value and search score."""


async def _facts(store: BaseStore, rows: Sequence[FactRow]) -> list[StoredFact]:
    """The facts of stored entries, in the given order, each with every one of its statements.

    The statements of all entries are read together (one batch per page).
    """
    if not rows:
        return []
    found = await asearch_all(store, *(statements_namespace(ns, key) for ns, key, _, _ in rows))
    facts = []
    for (_, key, value, score), statements in zip(rows, found, strict=True):
        fact = _assemble(value, statements)
        if fact is not None:
            facts.append(StoredFact(key, fact, score))
    return facts


async def add_facts(
    store: BaseStore,
    user_id: str,
    topic: str,
    claims: Sequence[Claim | dict[str, Any]],
    *,
    now: datetime | None = None,
) -> AddResult:
    """Add, confirm and supersede facts of one topic, writing everything in one batch.

    Every claim is validated and every ``supersedes`` resolved before the write; one bad
    claim means nothing is written. Each claim adds a statement under a fresh key; a fact's
    entry is written only when the fact is new or its status changes, so a confirmation
    never overwrites anything another writer stored meanwhile.

    Args:
        store: The project's store.
        user_id: Whose knowledge it is.
        topic: The topic the claims belong to.
        claims: Claims (or dicts of their fields), applied in order; a claim may supersede
            a fact added earlier in the same call.
        now: The time to record; the current time when omitted.

    Raises:
        InvalidValueError: A claim is invalid, or ``supersedes`` names no current fact.
    """
    topic = check_topic(topic)
    parsed = parse_claims(claims)
    now = as_utc(now or utc_now())
    namespace = namespaces.user_knowledge(user_id, topic)
    wanted = list(
        dict.fromkeys(
            key
            for claim in parsed
            for key in (fact_key(claim.content), claim.supersedes)
            if key is not None
        )
    )
    found = await store.abatch([GetOp(namespace, key) for key in wanted])
    values: dict[str, dict[str, Any] | None] = {
        key: None if item is None else item.value for key, item in zip(wanted, found, strict=True)
    }
    changed: dict[str, dict[str, Any]] = {}
    statements: list[PutOp] = []
    call = uuid.uuid4().hex
    for position, claim in enumerate(parsed):
        key = fact_key(claim.content)
        statement = Statement(
            source=claim.source,
            confidence=claim.confidence,
            observed_at=as_utc(claim.observed_at or now).isoformat(),
            stated_at=now.isoformat(),
        )
        statements.append(
            PutOp(
                statements_namespace(namespace, key), f"{call}-{position:03d}", statement.to_value()
            )
        )
        existing = values[key]
        entry = (
            FactEntry(content=claim.content, topic=topic) if existing is None else _entry(existing)
        )
        if claim.supersedes is not None:
            entry, target = _supersede(values, entry, key, claim.supersedes, topic, position, now)
            values[claim.supersedes] = changed[claim.supersedes] = {
                **(values[claim.supersedes] or {}),
                **target.to_value(),
            }
        if existing is None or claim.supersedes is not None:
            values[key] = changed[key] = {**(existing or {}), **entry.to_value()}
    claimed = list(dict.fromkeys(fact_key(claim.content) for claim in parsed))
    others = [key for key in changed if key not in claimed]
    entries = [PutOp(namespace, key, value) for key, value in changed.items()]
    await store.abatch([*statements, *entries])
    facts = await _facts(
        store, [(namespace, key, values[key] or {}, None) for key in [*claimed, *others]]
    )
    return AddResult(facts=facts[: len(claimed)], superseded=facts[len(claimed) :])


def _supersede(
    values: dict[str, dict[str, Any] | None],
    entry: FactEntry,
    key: str,
    target_key: str,
    topic: str,
    position: int,
    now: datetime,
) -> tuple[FactEntry, FactEntry]:
    """The new fact's entry recording ``supersedes`` and the target marked superseded by it."""
    where = f"claims[{position}].supersedes"
    if target_key == key:
        raise InvalidValueError(where, "names the claim itself; a claim cannot supersede itself")
    stored = values.get(target_key)
    if stored is None:
        raise InvalidValueError(where, f"there is no fact {target_key!r} in topic {topic!r}")
    target = _entry(stored)
    if target.status == "superseded" and target.superseded_by != key:
        raise InvalidValueError(
            where,
            f"fact {target_key!r} is already superseded by {target.superseded_by!r}; "
            "supersede that one instead",
        )
    superseded = target.model_copy(
        update={"status": "superseded", "superseded_by": key, "superseded_at": now.isoformat()}
    )
    replacement = entry.model_copy(
        update={
            "status": "current",
            "supersedes": target_key,
            "superseded_by": None,
            "superseded_at": None,
        }
    )
    return replacement, superseded


def _newest_first(facts: list[StoredFact]) -> list[StoredFact]:
    facts.sort(key=lambda stored: stored.key)
    facts.sort(
        key=lambda stored: as_utc(datetime.fromisoformat(stored.fact.observed_at)), reverse=True
    )
    return facts


async def list_facts(
    store: BaseStore, user_id: str, topic: str, *, include_superseded: bool = False
) -> list[StoredFact]:
    """Every fact of a topic (all pages), newest observation first; current only by default."""
    topic = check_topic(topic)
    namespace = namespaces.user_knowledge(user_id, topic)
    (items,) = await asearch_all(
        store,
        namespace,
        filter=None if include_superseded else CURRENT_ONLY,
    )
    return _newest_first(await _facts(store, [(namespace, i.key, i.value, None) for i in items]))


async def list_topics(store: BaseStore, user_id: str) -> list[str]:
    """The topics a user has facts in, sorted (every page of namespaces)."""
    root = namespaces.user_knowledge_root(user_id)
    topics: set[str] = set()
    offset = 0
    while True:
        page = await store.alist_namespaces(
            prefix=root, max_depth=len(root) + 1, limit=_TOPIC_PAGE, offset=offset
        )
        topics.update(namespaces.decode_id(ns[len(root)]) for ns in page if len(ns) > len(root))
        if len(page) < _TOPIC_PAGE:
            return sorted(topics)
        offset += _TOPIC_PAGE


async def search_facts(
    store: BaseStore,
    user_id: str,
    query: str,
    *,
    topic: str | None = None,
    limit: int = 5,
    include_superseded: bool = False,
) -> list[StoredFact]:
    """The facts best matching ``query``, in one topic or across all of the user's topics.

    Raises:
        InvalidValueError: An empty query, a bad topic, or a limit outside 1..100.
    """
    if not isinstance(query, str) or not query.strip():
        raise InvalidValueError("query", "must be a non-empty string")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_SEARCH_LIMIT:
        raise InvalidValueError("limit", f"must be a whole number from 1 to {MAX_SEARCH_LIMIT}")
    namespace = (
        namespaces.user_knowledge_root(user_id)
        if topic is None
        else namespaces.user_knowledge(user_id, check_topic(topic))
    )
    items = await recall(
        store,
        namespace,
        query.strip(),
        limit=limit,
        filter=None if include_superseded else CURRENT_ONLY,
    )
    return await _facts(
        store, [(item.namespace, item.key, item.value, item.score) for item in items]
    )
