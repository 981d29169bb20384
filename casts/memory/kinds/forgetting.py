"""Forgetting a user: delete everything the project keeps about them, with a receipt.

What is deleted, and where:

- the store: every item of every namespace under the user's roots -- ``user/<id>/…``
  (profile, preferences, memories, knowledge, the memory manager's progress) and
  ``session/<id>/…`` (scratch) -- each read whole (``queries.asearch_all``) and deleted;
- team rosters: the user's entry in every ``team/<t>/members`` (what they wrote into a
  team's workspace is the team's and stays, signed with their id);
- threads, when a server is reachable (``client``): every thread whose metadata names the
  user as ``owner`` -- under auth every thread they created, and always the memory
  manager's threads of their conversations. Without auth a client's ``threads.create``
  names no owner; the memory agent records its user as the owner of such a thread after
  its first turn (``formation.ScheduleFormation``). A thread only other casts ran on, or
  whose owner was never recorded, cannot be found without auth: delete it through the
  server's API.

Running it again deletes nothing and says so: the receipt counts zero.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from langgraph.store.base import BaseStore, GetOp, PutOp

from casts.memory.core import namespaces
from casts.memory.core.identity import OWNER_KEY
from casts.memory.core.namespace_text import format_namespace
from casts.memory.store.reading import asearch_all
from casts.memory.store.transfer import list_namespaces

DELETE_BATCH = 500
THREAD_PAGE = 100


@dataclass
class Receipt:
    """What ``forget_user`` deleted.

    Attributes:
        user_id: Whose data it was.
        deleted: Items deleted per namespace (as the CLI writes namespaces).
        teams: Teams whose roster listed the user.
        threads: Ids of the threads deleted; None when no server was asked.
        kept_threads: Threads of the user deliberately kept (the run doing the forgetting).
    """

    user_id: str
    deleted: dict[str, int] = field(default_factory=dict)
    teams: list[str] = field(default_factory=list)
    threads: list[str] | None = None
    kept_threads: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The receipt as a JSON object, with the total of items."""
        return {
            "user_id": self.user_id,
            "deleted": self.deleted,
            "items": sum(self.deleted.values()),
            "teams": self.teams,
            "threads": self.threads,
            "kept_threads": self.kept_threads,
        }


async def forget_user(
    store: BaseStore,
    user_id: str,
    *,
    client: Any = None,
    keep_threads: Collection[str] = (),
) -> Receipt:
    """Delete every namespace of ``user_id``, their team memberships and (with ``client``) threads.

    Args:
        store: The project's store.
        user_id: The user to forget.
        client: A ``langgraph_sdk`` client of the server holding the threads, or None.
        keep_threads: Thread ids not to delete (the thread of the run doing this).

    Raises:
        InvalidNamespaceError: ``user_id`` is not a valid id; nothing was deleted.
    """
    roots = [namespaces.user_root(user_id), namespaces.user_sessions(user_id)]
    receipt = Receipt(user_id)
    if client is not None:  # first: a server that cannot be reached stops before any deletion
        receipt.threads = await _delete_threads(client, user_id, set(keep_threads))
        receipt.kept_threads = sorted(keep_threads)
    for root in roots:
        for namespace in await list_namespaces(store, root):
            (items,) = await asearch_all(store, namespace)
            for start in range(0, len(items), DELETE_BATCH):
                batch = items[start : start + DELETE_BATCH]
                await store.abatch([PutOp(namespace, item.key, None) for item in batch])
            if items:
                receipt.deleted[format_namespace(namespace)] = len(items)
    receipt.teams = await _leave_teams(store, user_id)
    return receipt


async def _leave_teams(store: BaseStore, user_id: str) -> list[str]:
    """Remove the user from every team roster; the teams they were on."""
    rosters = [
        namespace
        for namespace in await list_namespaces(store, (namespaces.TEAM,))
        if len(namespace) == 3 and namespace[2] == namespaces.MEMBERS
    ]
    found = await store.abatch([GetOp(namespace, user_id) for namespace in rosters])
    on = [namespace for namespace, entry in zip(rosters, found, strict=True) if entry]
    if on:
        await store.abatch([PutOp(namespace, user_id, None) for namespace in on])
    return sorted(namespaces.decode_id(namespace[1]) for namespace in on)


async def _delete_threads(client: Any, user_id: str, keep: set[str]) -> list[str]:
    """Delete the threads the server lists with the user as owner, except ``keep``.

    Each round lists the first page again (deleted threads leave it) until a page holds
    nothing more to delete.
    """
    deleted: list[str] = []
    while True:
        page = await client.threads.search(metadata={OWNER_KEY: user_id}, limit=THREAD_PAGE)
        doomed = [thread["thread_id"] for thread in page if thread["thread_id"] not in keep]
        for thread_id in doomed:
            await client.threads.delete(thread_id)
        deleted.extend(doomed)
        if len(page) < THREAD_PAGE or not doomed:
            return sorted(deleted)
