"""The store every cast uses: any LangGraph store behind one set of rules.

``GuardedStore`` wraps the backend (InMemoryStore or AsyncPostgresStore) and:

- validates every write of a batch (namespace, key, value) before any of it reaches the
  backend, so a bad item raises ``InvalidValueError`` / ``InvalidNamespaceError`` naming the
  field and nothing of the batch is written -- for tools, nodes, the CLI and the server's
  HTTP store API alike;
- matches a nested object in a filter by equality on every backend (PostgresStore reads
  its keys as operators and fails, InMemoryStore matches it partially);
- turns a PostgreSQL that does not answer within ``MEMORY_CONNECT_TIMEOUT`` (the pool's
  ``PoolTimeout``: no connection, so nothing of the batch ran) into
  ``StoreUnavailableError`` naming the server; a connection lost *during* an operation
  still raises psycopg's ``OperationalError``, because then the write may have been applied;
- evaluates range filters (``$gt``, ``$gte``, ``$lt``, ``$lte``) itself, numerically, on
  every backend: PostgresStore compares numbers as text (``$gte: 10`` matches ``9``) and
  InMemoryStore raises when an item lacks the key. An item without a number there does not
  match.

``PatchedInMemoryStore`` fixes InMemoryStore's batch failing when two puts embed the same text.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Iterable
from typing import Any

from langgraph.store.base import (
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
)
from langgraph.store.memory import InMemoryStore
from psycopg_pool import PoolTimeout

from casts.memory.errors import InvalidValueError, StoreUnavailableError
from casts.memory.namespaces import validate_namespace
from casts.memory.values import validate_filter, validate_key, validate_ttl, validate_value

RANGE_OPERATORS = frozenset({"$gt", "$gte", "$lt", "$lte"})
_RANGE_PAGE = 200

# A plan yields the ops it needs run and receives their results; one plan serves both
# ``batch`` and ``abatch``.
Plan = Generator[list[Op], list[Result], list[Result]]


class PatchedInMemoryStore(InMemoryStore):
    """InMemoryStore that behaves like PostgresStore where upstream differs.

    - A batch may embed the same text twice: upstream zips one embedding per *distinct*
      text against one slot per *field*, and raises when two puts share a text.
    - An upsert keeps the item's ``created_at`` (upstream resets it).
    - Search without a query lists the most recently updated first (upstream: insertion
      order), so pages are the same on both backends.
    """

    def _apply_put_ops(self, put_ops: dict[tuple[tuple[str, ...], str], PutOp]) -> None:
        created = {
            (namespace, key): existing.created_at
            for namespace, key in put_ops
            if (existing := self._data.get(namespace, {}).get(key)) is not None
        }
        super()._apply_put_ops(put_ops)
        for (namespace, key), created_at in created.items():
            if (item := self._data.get(namespace, {}).get(key)) is not None:
                item.created_at = created_at

    def _filter_items(self, op: SearchOp) -> list[tuple[Item, list[list[float]]]]:
        # limit=-1 turns off upstream's early stop, which would cut in insertion order.
        matches = super()._filter_items(op._replace(limit=-1))
        return sorted(matches, key=lambda match: match[0].updated_at, reverse=True)

    def _insertinmem_store(
        self,
        to_embed: dict[str, list[tuple[tuple[str, ...], str, str]]],
        embeddings: list[list[float]],
    ) -> None:
        for slots, embedding in zip(to_embed.values(), embeddings, strict=True):
            for namespace, key, path in slots:
                self._vectors[namespace][key][path] = embedding


class GuardedStore(BaseStore):
    """A store that checks every write and filters ranges the same way on every backend.

    Attributes:
        inner: The backend store; reach backend-specific features (``sweep_ttl``) through it.
    """

    def __init__(self, inner: BaseStore, *, location: str | None = None) -> None:
        self.inner = inner
        self.location = location
        self.supports_ttl = inner.supports_ttl
        self.ttl_config = getattr(inner, "ttl_config", None)

    @property
    def index_config(self) -> Any:
        """The backend's semantic index configuration, or None."""
        return getattr(self.inner, "index_config", None)

    def __repr__(self) -> str:
        return f"GuardedStore({type(self.inner).__name__})"

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run ops synchronously (from a worker thread when the backend is async).

        Raises:
            StoreUnavailableError: The backend gave no connection in time; nothing ran.
        """
        try:
            return _drive(self._plan(ops), self.inner.batch)
        except PoolTimeout as error:
            raise self._unavailable(error) from error

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Run ops asynchronously.

        Raises:
            StoreUnavailableError: The backend gave no connection in time; nothing ran.
        """
        try:
            return await _adrive(self._plan(ops), self.inner.abatch)
        except PoolTimeout as error:
            raise self._unavailable(error) from error

    def _unavailable(self, error: PoolTimeout) -> StoreUnavailableError:
        where = f" at {self.location}" if self.location else ""
        return StoreUnavailableError(
            f"PostgreSQL{where} is unavailable ({error}): the operation was not applied. "
            "Is the server down or restarting? Retry once it is back; the connection pool "
            "reconnects by itself."
        )

    def _plan(self, ops: Iterable[Op]) -> Plan:
        ops = list(ops)
        for position, op in enumerate(ops):
            check_op(op, position if len(ops) > 1 else None)
        results: list[Result] = [None] * len(ops)
        ops = [_with_even_filter(op) for op in ops]
        ranged = {i for i, op in enumerate(ops) if isinstance(op, SearchOp) and _split(op)[1]}
        direct = [i for i in range(len(ops)) if i not in ranged]
        if direct:
            answers = yield [ops[i] for i in direct]
            for i, answer in zip(direct, answers, strict=True):
                results[i] = answer
        for i in sorted(ranged):
            results[i] = yield from _ranged_search(ops[i])  # type: ignore[arg-type]
        return results


def check_op(op: Op, position: int | None = None) -> None:
    """Validate one op before it runs; raise naming the field (and the op's position)."""
    where = "" if position is None else f"ops[{position}]."
    try:
        if isinstance(op, PutOp):
            validate_namespace(op.namespace)
            validate_key(op.key)
            if op.value is not None:
                validate_value(op.value)
            validate_ttl(op.ttl)
        elif isinstance(op, GetOp):
            validate_namespace(op.namespace)
            validate_key(op.key)
        elif isinstance(op, SearchOp):
            validate_namespace(op.namespace_prefix, prefix=True)
            validate_filter(op.filter)
            if op.limit < 0 or op.offset < 0:
                raise InvalidValueError("limit", "limit and offset must not be negative")
        elif isinstance(op, ListNamespacesOp):
            for condition in op.match_conditions or ():
                validate_namespace(
                    tuple(label for label in condition.path if label != "*"), prefix=True
                )
    except InvalidValueError as error:
        if not where:
            raise
        raise InvalidValueError(f"{where}{error.field}", error.reason) from None


def _split(op: SearchOp) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
    """Split a filter into what the backend evaluates and the range conditions we evaluate."""
    if not op.filter:
        return op.filter, {}
    exact: dict[str, Any] = {}
    ranges: dict[str, dict[str, Any]] = {}
    for field, condition in op.filter.items():
        if isinstance(condition, dict) and RANGE_OPERATORS & condition.keys():
            ranges[field] = {k: v for k, v in condition.items() if k in RANGE_OPERATORS}
            rest = {k: v for k, v in condition.items() if k not in RANGE_OPERATORS}
            if rest:
                exact[field] = rest
        elif isinstance(condition, dict) and not any(k.startswith("$") for k in condition):
            # A nested object matches by equality on every backend (PostgresStore would
            # read its keys as operators, InMemoryStore as a partial match).
            exact[field] = {"$eq": condition}
        else:
            exact[field] = condition
    return exact or None, ranges


def _with_even_filter(op: Op) -> Op:
    """A search whose nested-object filters mean the same on every backend."""
    if not isinstance(op, SearchOp) or not op.filter:
        return op
    exact, ranges = _split(op)
    merged: dict[str, Any] = dict(exact or {})
    for field, condition in ranges.items():
        merged[field] = {**merged.get(field, {}), **condition}
    return op._replace(filter=merged)


def _number_at(value: dict[str, Any], path: str) -> float | None:
    node: Any = value
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if isinstance(node, bool) or not isinstance(node, (int, float)):
        return None
    return float(node)


def _in_ranges(item: SearchItem, ranges: dict[str, dict[str, Any]]) -> bool:
    for path, condition in ranges.items():
        number = _number_at(item.value, path)
        if number is None:
            return False
        for operator, bound in condition.items():
            if isinstance(bound, bool) or not isinstance(bound, (int, float)):
                raise InvalidValueError(f"filter.{path}.{operator}", "must be a number")
            if not _COMPARE[operator](number, float(bound)):
                return False
    return True


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
}


def _ranged_search(op: SearchOp) -> Generator[list[Op], list[Result], list[SearchItem]]:
    """Page through the backend's matches, keeping those within the ranges."""
    exact, ranges = _split(op)
    wanted = op.offset + op.limit
    kept: list[SearchItem] = []
    offset = 0
    while len(kept) < wanted:
        page_op = op._replace(filter=exact, limit=_RANGE_PAGE, offset=offset)
        (page,) = yield [page_op]
        page = page or []
        kept.extend(item for item in page if _in_ranges(item, ranges))
        if len(page) < _RANGE_PAGE:
            break
        offset += _RANGE_PAGE
    return kept[op.offset : wanted]


def _drive(plan: Plan, run: Callable[[list[Op]], list[Result]]) -> list[Result]:
    try:
        request = next(plan)
        while True:
            request = plan.send(run(request))
    except StopIteration as done:
        return done.value


async def _adrive(plan: Plan, run: Callable[[list[Op]], Awaitable[list[Result]]]) -> list[Result]:
    try:
        request = next(plan)
        while True:
            request = plan.send(await run(request))
    except StopIteration as done:
        return done.value


def require_store(runtime: Any) -> BaseStore:
    """The run's store, or a clear error when the graph was compiled or served without one."""
    store = getattr(runtime, "store", None)
    if store is None:
        raise StoreUnavailableError(
            "This run has no store: serve the graph with langgraph.json (which wires one) or "
            "compile it with store=... (see casts.memory.persistence.open_store)."
        )
    return store
