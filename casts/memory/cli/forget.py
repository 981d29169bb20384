"""``memory-casts forget-user ID``: delete everything of one user and print the receipt.

The store part runs on the configured store (like every command); with ``--server`` the
user's threads on that Agent Server are deleted too (``--token`` when it has auth on: a
token can only reach its own user's threads). See ``casts.memory.kinds.forgetting`` for what is
deleted where. The receipt is one JSON object on stdout; running it again prints a
receipt of nothing.
"""

from __future__ import annotations

import argparse
import json
import sys

import httpx

from casts.memory.cli.store import _store as configured_store
from casts.memory.kinds.forgetting import forget_user

SERVER_UNREACHABLE = 2


async def run_forget_user(args: argparse.Namespace) -> int:
    """Forget the user; 2 (nothing deleted) when ``--server`` cannot be reached."""
    client = None
    if args.server:
        from langgraph_sdk import get_client

        headers = {"Authorization": f"Bearer {args.token}"} if args.token else None
        client = get_client(url=args.server, api_key=None, headers=headers)
    async with configured_store(args) as store:
        try:
            receipt = await forget_user(store, args.user_id, client=client)
        except httpx.HTTPError as error:
            print(f"memory-casts: server {args.server}: {error}; nothing deleted", file=sys.stderr)
            return SERVER_UNREACHABLE
    if receipt.threads is None:
        print("memory-casts: threads not deleted (give --server URL)", file=sys.stderr)
    print(json.dumps(receipt.as_json(), ensure_ascii=False))
    return 0


def add_forget_user(commands: argparse._SubParsersAction) -> None:
    """Register ``forget-user``."""
    forget = commands.add_parser(
        "forget-user", help="delete every namespace, team membership and thread of a user"
    )
    forget.add_argument("user_id", help="the user, as the outside world spells the id")
    forget.add_argument("--server", help="Agent Server URL whose threads of the user to delete")
    forget.add_argument("--token", help="bearer token for --server when it has auth on")
    forget.set_defaults(run=run_forget_user)
