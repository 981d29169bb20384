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
  match. The backend's matches of the rest of the filter are read in one query: paging them
  with an offset would skip and repeat items, because PostgresStore orders by ``updated_at``
  alone and the items of one batch share it;
- merges concurrent async calls (``abatch`` and the ``aget`` / ``asearch`` / ``aput`` ... that
  call it) as the stock ``AsyncPostgresStore`` merges its single calls: everything queued in
  one event-loop tick becomes one batch of the backend (one connection on PostgreSQL), one
  batch at a time. Sent as separate batches on separate connections, concurrent searches
  that refresh TTLs update the same rows from many transactions and deadlock. Each call is
  validated before it is queued, so a bad call fails alone, not the calls merged with it;
- retries a batch without writes that PostgreSQL aborted as a deadlock victim or for a
  serialization failure (a few times, then the error is raised): batches from worker
  threads, the TTL sweeper or other processes can still collide with ours.

``PatchedInMemoryStore`` fixes InMemoryStore's batch failing when two puts embed the same text.
"""

from __future__ import annotations

import asyncio
import random
import weakref
from collections.abc import Awaitable, Callable, Generator, Iterable
from typing import Any

from langgraph.store.base import (
    NOT_PROVIDED,
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
from langgraph.store.base.batch import _dedupe_ops
from langgraph.store.memory import InMemoryStore
from psycopg.errors import DeadlockDetected, SerializationFailure
from psycopg_pool import PoolTimeout

from casts.memory.core.errors import InvalidValueError, StoreUnavailableError, TTLNotSupportedError
from casts.memory.core.namespaces import validate_namespace
from casts.memory.core.values import validate_filter, validate_key, validate_ttl, validate_value
from casts.memory.store.blocking import refuse_on_event_loop

RANGE_OPERATORS = frozenset({"$gt", "$gte", "$lt", "$lte"})
FILTER_OPERATORS = RANGE_OPERATORS | {"$eq", "$ne"}
# Enough for every match of a namespace; the backend's LIMIT takes a bigint.
_EVERY_MATCH = 2**31 - 1
# How often a batch without writes is run when PostgreSQL aborts it as a deadlock victim,
# and the longest random pause before the n-th retry (n times this, in seconds).
READ_ATTEMPTS = 8
RETRY_PAUSE_S = 0.05
_TRANSIENT = (DeadlockDetected, SerializationFailure)

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

    ``abatch`` (and so ``aget``, ``asearch``, ``aput``... which call it) queues its ops; a
    background task of the event loop runs everything queued in one tick as one batch of
    the backend, one batch at a time, deduplicated as LangGraph's ``AsyncBatchedBaseStore``
    (the base of ``AsyncPostgresStore``) does for its single calls. One store serves one
    event loop at a time: the one it was created in, else the first one to use it.
    ``batch`` (the sync methods) called from another thread while that loop runs joins the
    same queue, as the stock store's sync methods do; with no loop running anywhere it runs
    in the calling thread. On the thread of a running event loop it is refused on every
    backend (``BlockingCallError``): it would block the loop, and on PostgreSQL it could
    never finish (upstream raises ``InvalidStateError``; InMemoryStore would let it pass).

    Attributes:
        inner: The backend store; reach backend-specific features (``sweep_ttl``) through it.
    """

    def __init__(self, inner: BaseStore, *, location: str | None = None) -> None:
        self.inner = inner
        self.location = location
        self.supports_ttl = inner.supports_ttl
        self.ttl_config = getattr(inner, "ttl_config", None)
        self._loop = _running_loop()
        self._queue: asyncio.Queue[tuple[asyncio.Future[list[Result]], list[Op]]] | None = None
        self._merger: asyncio.Task[None] | None = None

    @property
    def index_config(self) -> Any:
        """The backend's semantic index configuration, or None."""
        return getattr(self.inner, "index_config", None)

    def __repr__(self) -> str:
        return f"GuardedStore({type(self.inner).__name__})"

    def put(
        self, namespace: tuple[str, ...], key: str, value: dict[str, Any], *args: Any, **kwargs: Any
    ) -> None:
        """Store an item (see ``BaseStore.put``); a TTL the backend cannot keep is refused."""
        self._refuse_unkept_ttl(kwargs.get("ttl"))
        super().put(namespace, key, value, *args, **kwargs)

    async def aput(
        self, namespace: tuple[str, ...], key: str, value: dict[str, Any], *args: Any, **kwargs: Any
    ) -> None:
        """Store an item (see ``BaseStore.aput``); a TTL the backend cannot keep is refused."""
        self._refuse_unkept_ttl(kwargs.get("ttl"))
        await super().aput(namespace, key, value, *args, **kwargs)

    def _refuse_unkept_ttl(self, ttl: Any) -> None:
        # LangGraph raises a bare NotImplementedError here, which the server answers with 500.
        if ttl not in (None, NOT_PROVIDED) and not self.supports_ttl:
            raise TTLNotSupportedError(
                "ttl",
                f"{type(self.inner).__name__} keeps no TTL; use PostgreSQL (or no ttl)",
            )

    def __del__(self) -> None:
        merger = getattr(self, "_merger", None)
        if merger is not None and not merger.get_loop().is_closed():
            merger.cancel()

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop this store serves (None until one uses it): sync callers run there."""
        return self._loop

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run ops synchronously: from sync code or a worker thread, never on a loop's thread.

        Raises:
            BlockingCallError: Called on the thread of a running event loop; nothing ran.
            InvalidValueError, InvalidNamespaceError: An op is invalid; nothing ran.
            StoreUnavailableError: The backend gave no connection in time; nothing ran.
        """
        refuse_on_event_loop("A sync store method (get, search, put, batch...)")
        loop = self._loop
        if loop is not None and loop.is_running():
            return asyncio.run_coroutine_threadsafe(self.abatch(list(ops)), loop).result()
        ops = check_ops(ops)
        try:
            return _drive(self._plan(ops), self.inner.batch)
        except PoolTimeout as error:
            raise self._unavailable(error) from error

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Run ops asynchronously, merged with the batches of the same event-loop tick.

        The ops are validated before they are queued, so a bad op fails this call alone,
        never the calls it would have been merged with.

        Raises:
            InvalidValueError, InvalidNamespaceError: An op is invalid; nothing ran.
            StoreUnavailableError: The backend gave no connection in time; nothing ran.
        """
        ops = check_ops(ops)
        if not ops:
            return []
        done: asyncio.Future[list[Result]] = asyncio.get_running_loop().create_future()
        self._queue_of_this_loop().put_nowait((done, ops))
        return await done

    def _queue_of_this_loop(self) -> asyncio.Queue[tuple[asyncio.Future[list[Result]], list[Op]]]:
        loop = asyncio.get_running_loop()
        if self._queue is None or self._merger is None or self._merger.get_loop() is not loop:
            self._loop = loop
            self._queue = asyncio.Queue()
            self._merger = loop.create_task(_merge_batches(self._queue, weakref.ref(self)))
        return self._queue

    async def _run(self, ops: list[Op]) -> list[Result]:
        """Run validated ops as one batch of the backend (one connection on PostgreSQL).

        A deadlock or serialization failure aborts the whole batch (the backend runs it in
        one transaction), so a batch of reads is run again, after a short random pause that
        keeps two retrying processes from meeting again. A batch with writes is not retried:
        the caller decides whether to write again.
        """
        attempt = 1
        while True:
            try:
                return await _adrive(self._plan(ops), self.inner.abatch)
            except PoolTimeout as error:
                raise self._unavailable(error) from error
            except _TRANSIENT:
                if attempt == READ_ATTEMPTS or any(isinstance(op, PutOp) for op in ops):
                    raise
                await asyncio.sleep(random.uniform(0, RETRY_PAUSE_S * attempt))
                attempt += 1

    def _unavailable(self, error: PoolTimeout) -> StoreUnavailableError:
        where = f" at {self.location}" if self.location else ""
        return StoreUnavailableError(
            f"PostgreSQL{where} is unavailable ({error}): the operation was not applied. "
            "Is the server down or restarting? Retry once it is back; the connection pool "
            "reconnects by itself."
        )

    def _plan(self, ops: list[Op]) -> Plan:
        """Run validated ops in one request to the backend (two with ranged searches).

        Ranged searches read every match of their exact part in the same request as the
        other ops; the items they return get their TTL refreshed in a second request, so
        the items read but filtered out keep theirs.
        """
        ops = [_with_even_filter(op) for op in ops]
        ranged = {i for i, op in enumerate(ops) if isinstance(op, SearchOp) and _split(op)[1]}
        wide = {i: _every_exact_match(ops[i]) for i in ranged}  # type: ignore[arg-type]
        request = [wide.get(i, op) for i, op in enumerate(ops)]
        results: list[Result] = yield request
        refresh: list[Op] = []
        for i in ranged:
            op = ops[i]
            results[i] = _ranged_page(op, results[i])  # type: ignore[arg-type]
            if op.refresh_ttl and self.supports_ttl:  # type: ignore[union-attr]
                refresh += [GetOp(item.namespace, item.key) for item in results[i]]  # type: ignore[union-attr]
        if refresh:
            yield refresh
        return results


async def _merge_batches(
    queue: asyncio.Queue[tuple[asyncio.Future[list[Result]], list[Op]]],
    store: weakref.ReferenceType[GuardedStore],
) -> None:
    """Run the batches queued in one event-loop tick as one backend batch, one at a time.

    One batch at a time: concurrent searches that refresh TTLs, sent as separate batches on
    separate connections, update the same rows from many transactions and deadlock.
    Duplicate reads run once and puts of one key keep the last, as in LangGraph's
    ``AsyncBatchedBaseStore``. An error of the merged batch (the database, the embeddings)
    is every caller's: none of their ops was validated into it by mistake.
    """
    while True:
        waiting = [await queue.get()]
        while not queue.empty():
            waiting.append(queue.get_nowait())
        waiting = [(done, ops) for done, ops in waiting if not done.done()]  # not cancelled
        owner = store()
        if owner is None:
            return
        if not waiting:
            continue
        listen, unique = _dedupe_ops([op for _, ops in waiting for op in ops])
        try:
            results = await owner._run(unique)
        except Exception as error:
            for done, _ in waiting:
                if not done.done():
                    done.set_exception(error)
        else:
            if listen is not None:
                results = [results[i] for i in listen]
            start = 0
            for done, ops in waiting:
                if not done.done():
                    done.set_result(results[start : start + len(ops)])
                start += len(ops)
        del owner


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def check_ops(ops: Iterable[Op]) -> list[Op]:
    """Validate every op of a batch before any of it runs; raise naming the first bad field."""
    ops = list(ops)
    for position, op in enumerate(ops):
        check_op(op, position if len(ops) > 1 else None)
    return ops


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
            _check_filter(op.filter or {})
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


def _check_filter(filter: dict[str, Any]) -> None:
    """Refuse operators no backend knows and range bounds that are not numbers."""
    for field, condition in filter.items():
        if not isinstance(condition, dict):
            continue
        operators = [name for name in condition if isinstance(name, str) and name.startswith("$")]
        if not operators:
            continue  # a nested object, matched by equality
        for name, bound in condition.items():
            if name not in FILTER_OPERATORS:
                raise InvalidValueError(
                    f"filter.{field}.{name}",
                    f"unknown operator; use one of {', '.join(sorted(FILTER_OPERATORS))}",
                )
            if name in RANGE_OPERATORS and (
                isinstance(bound, bool) or not isinstance(bound, (int, float))
            ):
                raise InvalidValueError(f"filter.{field}.{name}", "must be a number")


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
            if not _COMPARE[operator](number, float(bound)):
                return False
    return True


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
}


def _every_exact_match(op: SearchOp) -> SearchOp:
    """The search for every backend match of the exact part of a ranged search's filter.

    Read in one query: PostgresStore orders by ``updated_at`` alone, and the items of one
    batch share it, so pages read with an offset would overlap and skip items. Its TTL
    refresh is left to the items the search returns.
    """
    exact, _ = _split(op)
    return op._replace(filter=exact, limit=_EVERY_MATCH, offset=0, refresh_ttl=False)


def _ranged_page(op: SearchOp, matches: list[SearchItem] | None) -> list[SearchItem]:
    """The caller's page of the matches within the ranges, in an order that does not vary.

    Ties of the backend's order (score, then ``updated_at``) are broken by namespace and key,
    so consecutive pages of one search neither overlap nor skip.
    """
    _, ranges = _split(op)
    kept = [item for item in matches or [] if _in_ranges(item, ranges)]
    kept.sort(
        key=lambda item: (
            -(item.score or 0.0) if op.query else 0.0,
            -item.updated_at.timestamp(),
            item.namespace,
            item.key,
        )
    )
    return kept[op.offset : op.offset + op.limit]


def _drive(plan: Plan, run: Callable[[list[Op]], list[Result]]) -> list[Result]:
    """Run a plan's requests with ``run``; a request's error goes back into the plan."""
    try:
        request = next(plan)
        while True:
            try:
                answer = run(request)
            except Exception as error:
                request = plan.throw(error)
            else:
                request = plan.send(answer)
    except StopIteration as done:
        return done.value


async def _adrive(plan: Plan, run: Callable[[list[Op]], Awaitable[list[Result]]]) -> list[Result]:
    """``_drive`` for an async ``run``."""
    try:
        request = next(plan)
        while True:
            try:
                answer = await run(request)
            except Exception as error:
                request = plan.throw(error)
            else:
                request = plan.send(answer)
    except StopIteration as done:
        return done.value


def require_store(runtime: Any) -> BaseStore:
    """The run's store, or a clear error when the graph was compiled or served without one."""
    store = getattr(runtime, "store", None)
    if store is None:
        raise StoreUnavailableError(
            "This run has no store: serve the graph with langgraph.json (which wires one) or "
            "compile it with store=... (see casts.memory.store.persistence.open_store)."
        )
    return store
