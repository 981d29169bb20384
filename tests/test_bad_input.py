"""Bad input through every door: tools, cast nodes and the HTTP store API of `langgraph dev`.

Each bad input must give a clear error (naming the field or the problem), write nothing (the
user's, team's and session's data is compared before and after), and leave the server
serving. Tools and nodes run on both backends (``store`` fixture); the HTTP API runs on a
real `langgraph dev` over PostgreSQL.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.store.base import InvalidNamespaceError as LangGraphNamespaceError
from langgraph.store.base import PutOp
from langgraph_sdk import get_client

from casts.knowledge.graph import KnowledgeGraph
from casts.knowledge.modules.tools import KNOWLEDGE_TOOLS
from casts.memory import namespaces
from casts.memory.core.context import MemoryContext
from casts.memory.core.errors import (
    AccessDeniedError,
    InvalidNamespaceError,
    InvalidValueError,
    MissingIdentityError,
    StoreUnavailableError,
)
from casts.memory.kinds.workspace import create_team
from casts.memory.store.guarded import GuardedStore
from casts.memory.store.reading import asearch_all
from casts.memory.tools import PROFILE_TOOLS
from casts.memory_agent.modules.tools import MEMORY_TOOLS
from casts.session_scratch.graph import SessionScratchGraph
from casts.session_scratch.modules.tools import SCRATCH_TOOLS
from casts.team_workspace.graph import TeamWorkspaceGraph
from casts.team_workspace.modules.tools import WORKSPACE_TOOLS
from casts.user_profile.graph import UserProfileGraph
from tests.conftest import TEST_EMBEDDINGS
from tests.conversation import thread_config
from tests.dev_server import running_dev_server
from tests.fake_models import tool_call

HUGE = "x" * (300 * 1024)  # over the default MEMORY_MAX_VALUE_BYTES (256 KiB)
LONG_KEY = "k" * 300  # over MAX_KEY_LENGTH (256)
DEEP: dict[str, Any] = {}
_node = DEEP
for _ in range(40):  # deeper than MAX_DEPTH (32)
    _node["d"] = {}
    _node = _node["d"]

ALL_TOOLS = list(
    {
        tool.name: tool
        for tools in (MEMORY_TOOLS, PROFILE_TOOLS, KNOWLEDGE_TOOLS, WORKSPACE_TOOLS, SCRATCH_TOOLS)
        for tool in tools
    }.values()
)


def tool_graph(store: GuardedStore | None):
    """START -> ToolNode(every tool of every cast) -> END; the tool calls come as input."""
    builder = StateGraph(MessagesState, context_schema=MemoryContext)
    builder.add_node("tools", ToolNode(ALL_TOOLS))
    builder.add_edge(START, "tools")
    builder.add_edge("tools", END)
    return builder.compile(store=store)


@pytest.fixture
def people(unique: Callable[[str], str]) -> dict[str, str]:
    """A user who owns a team, and a session of theirs."""
    return {"user_id": unique("bad"), "team_id": unique("team"), "session_id": unique("sess")}


async def snapshot(store: GuardedStore, people: dict[str, str]) -> list[list[tuple]]:
    """Everything the user, their team and their sessions own, as comparable tuples."""
    found = await asearch_all(
        store,
        namespaces.user_root(people["user_id"]),
        namespaces.team_root(people["team_id"]),
        namespaces.user_sessions(people["user_id"]),
    )
    return [
        sorted((item.namespace, item.key, json.dumps(item.value)) for item in part)
        for part in found
    ]


async def seeded(store: GuardedStore, people: dict[str, str]) -> list[list[tuple]]:
    """Some good data in every namespace the bad inputs aim at, and its snapshot."""
    await create_team(store, people["team_id"], people["user_id"])
    context = dict(people)
    good = [
        tool_call("update_user_profile", field="name", value="Ada"),
        tool_call("set_preference", name="theme", value="dark"),
        tool_call("remember_fact", content="Ada keeps bees"),
        tool_call("add_fact", topic="bees", content="Bees dance", source="book", confidence=0.9),
        tool_call("write_team_workspace", key="status", value={"phase": "beta"}),
        tool_call("save_scratch", key="draft", data={"text": "hi"}),
    ]
    # ToolNode runs the calls of the last assistant message: one message calling every tool.
    calls = AIMessage(content="", tool_calls=[call for m in good for call in m.tool_calls])
    out = await tool_graph(store).ainvoke({"messages": [calls]}, context=context)
    replies = [m.content for m in out["messages"] if isinstance(m, ToolMessage)]
    assert not any(reply.startswith("Error") for reply in replies), replies
    before = await snapshot(store, people)
    assert all(before), before  # every namespace holds something
    return before


# (tool, args, what the error must say). Each is a distinct bad input.
TOOL_CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("update_user_profile", {"field": "age", "value": math.nan}, ["fields.age", "nan"]),
    ("update_user_profile", {"field": "age", "value": math.inf}, ["fields.age", "inf"]),
    ("update_user_profile", {"field": "bio", "value": "a\x00b"}, ["fields.bio", "NUL"]),
    ("update_user_profile", {"field": "bio", "value": HUGE}, ["fields.bio", "bytes"]),
    ("update_user_profile", {"field": "pet", "value": {"kind": "cat"}}, ["fields.pet", "string"]),
    ("update_user_profile", {"field": "", "value": "x"}, ["fields.", "must not be empty"]),
    ("update_user_profile", {"field": LONG_KEY, "value": "x"}, ["300 characters", "at most 256"]),
    ("update_user_profile", {"field": "a\x00b", "value": "x"}, ["NUL"]),
    ("set_preference", {"name": "langs", "value": ["en", {"x": 1}]}, ["preferences.langs"]),
    ("remember_fact", {"content": "  "}, ["content"]),
    ("remember_fact", {"content": "Ada likes tea", "confidence": 7}, ["confidence"]),
    ("remember_fact", {"content": "Ada likes tea", "kind": "gossip"}, ["kind"]),
    ("recall_memories", {"query": "tea", "limit": 0}, ["limit", "1 to 50"]),
    ("recall_memories", {"query": ""}, ["query", "non-empty"]),
    ("forget_memory", {"key": ""}, ["key", "must not be empty"]),
    ("add_fact", {"topic": "", "content": "c", "source": "s", "confidence": 0.5}, ["topic"]),
    ("add_fact", {"topic": "t", "content": "c", "source": "s", "confidence": 1.5}, ["confidence"]),
    (
        "add_fact",
        {"topic": "t", "content": "c", "source": "s", "confidence": "high"},
        ["confidence"],
    ),
    ("add_fact", {"topic": "t", "content": "...", "source": "s", "confidence": 0.5}, ["content"]),
    (
        "add_fact",
        {"topic": "t", "content": "c", "source": "s", "confidence": 0.5, "supersedes": "nope"},
        ["supersedes", "nope"],
    ),
    ("search_knowledge", {"query": "bees", "limit": 1000}, ["limit"]),
    ("write_team_workspace", {"key": "s", "value": {"p": [1, math.nan]}}, ["value.p[1]", "nan"]),
    ("write_team_workspace", {"key": "s", "value": DEEP}, ["deeper than 32"]),
    ("write_team_workspace", {"key": "s", "value": "not an object"}, ["value"]),
    ("write_team_workspace", {"key": LONG_KEY, "value": {"a": 1}}, ["at most 256"]),
    ("save_scratch", {"key": "d", "data": {"a\x00": 1}}, ["NUL"]),
    ("save_scratch", {"key": "d", "data": {"a": 1}, "ttl_minutes": -5}, ["ttl_minutes"]),
    ("save_scratch", {"key": "d", "data": {"a": 1}, "ttl_minutes": math.inf}, ["ttl_minutes"]),
    ("save_scratch", {"key": "d", "data": {"text": HUGE}}, ["bytes"]),
]


@pytest.mark.parametrize(
    ("tool", "args", "expected"),
    TOOL_CASES,
    ids=[f"{i:02d}-{case[0]}" for i, case in enumerate(TOOL_CASES)],
)
async def test_bad_tool_input_is_refused_and_writes_nothing(
    store: GuardedStore, people, tool, args, expected
) -> None:
    before = await seeded(store, people)
    out = await tool_graph(store).ainvoke({"messages": [tool_call(tool, **args)]}, context=people)
    (reply,) = [m.content for m in out["messages"] if isinstance(m, ToolMessage)]
    assert reply.startswith("Error"), reply
    for text in expected:
        assert text in reply, (text, reply[:500])
    assert len(reply) < 2000  # a huge value is not echoed back to the model
    assert await snapshot(store, people) == before


@pytest.mark.parametrize(
    ("context", "tool", "args", "expected"),
    [
        ({}, "set_preference", {"name": "theme", "value": "dark"}, "No user for this run"),
        ({}, "remember_fact", {"content": "Ada keeps bees"}, "No user for this run"),
        ({"user_id": "x"}, "write_team_workspace", {"key": "k", "value": {}}, "No team"),
        ({"user_id": "intruder", "team_id": None}, "read_team_workspace", {}, "not a member"),
    ],
    ids=["missing-user-pref", "missing-user-memory", "missing-team", "not-a-member"],
)
async def test_tool_without_identity_is_refused(
    store: GuardedStore, people, context, tool, args, expected
) -> None:
    before = await seeded(store, people)
    if context.get("team_id", "") is None:
        context = {**context, "team_id": people["team_id"]}
    out = await tool_graph(store).ainvoke({"messages": [tool_call(tool, **args)]}, context=context)
    (reply,) = [m.content for m in out["messages"] if isinstance(m, ToolMessage)]
    assert reply.startswith("Error") and expected in reply, reply
    assert await snapshot(store, people) == before


async def test_tool_without_a_store_says_so(people) -> None:
    out = await tool_graph(None).ainvoke(
        {"messages": [tool_call("set_preference", name="theme", value="dark")]}, context=people
    )
    (reply,) = [m.content for m in out["messages"] if isinstance(m, ToolMessage)]
    assert reply.startswith("Error: This run has no store"), reply


# --- nodes of the structured-input casts --------------------------------------------------

GRAPHS = {
    "user_profile": UserProfileGraph,
    "knowledge": KnowledgeGraph,
    "team_workspace": TeamWorkspaceGraph,
    "session_scratch": SessionScratchGraph,
}
GOOD_CLAIM = {"content": "Hives need shade", "source": "book", "confidence": 0.8}

# (graph, input, error type, what the message must say). Each is a distinct bad input.
NODE_CASES: list[tuple[str, dict[str, Any], type[Exception], list[str]]] = [
    ("user_profile", {"set_fields": {"age": math.nan}}, InvalidValueError, ["fields.age"]),
    ("user_profile", {"set_fields": "Ada"}, InvalidValueError, ["fields", "object"]),
    (
        "user_profile",
        {"set_fields": {"name": "Bo", "pet": {"kind": "cat"}}},
        InvalidValueError,
        ["fields.pet"],
    ),  # the good field of the batch is not written either
    (
        "user_profile",
        {"set_preferences": {"theme": "a\x00"}},
        InvalidValueError,
        ["preferences.theme", "NUL"],
    ),
    ("user_profile", {"remove_fields": "name"}, InvalidValueError, ["remove_fields", "list"]),
    ("user_profile", {"remove_fields": ["name", ""]}, InvalidValueError, ["remove_fields[1]"]),
    ("user_profile", {"set_fields": {LONG_KEY: 1}}, InvalidValueError, ["at most 256"]),
    ("knowledge", {"action": "explode"}, InvalidValueError, ["action", "add, list, search"]),
    ("knowledge", {}, InvalidValueError, ["action", "None"]),
    (
        "knowledge",
        {
            "action": "add",
            "topic": "bees",
            "claims": [GOOD_CLAIM, {**GOOD_CLAIM, "content": "Bees sleep", "confidence": 2}],
        },
        InvalidValueError,
        ["claims[1].confidence"],
    ),
    (
        "knowledge",
        {"action": "add", "topic": "bees", "claims": []},
        InvalidValueError,
        ["claims", "at least one"],
    ),
    (
        "knowledge",
        {"action": "add", "topic": "bees", "claims": {"content": "x"}},
        InvalidValueError,
        ["claims", "list"],
    ),
    (
        "knowledge",
        {
            "action": "add",
            "topic": "bees",
            "claims": [{**GOOD_CLAIM, "observed_at": "2025-01-01T00:00:00"}],
        },
        InvalidValueError,
        ["observed_at", "timezone"],
    ),
    (
        "knowledge",
        {"action": "add", "topic": "", "claims": [GOOD_CLAIM]},
        InvalidValueError,
        ["topic"],
    ),
    ("knowledge", {"action": "search", "query": "bees", "limit": -1}, InvalidValueError, ["limit"]),
    (
        "team_workspace",
        {"action": "write", "set_entries": {"s": "beta"}},
        InvalidValueError,
        ["entries.s.value", "dictionary"],
    ),
    (
        "team_workspace",
        {"action": "write", "set_entries": {"ok": {"a": 1}, "s": {"x": math.inf}}},
        InvalidValueError,
        ["inf"],
    ),
    (
        "team_workspace",
        {"action": "add_member", "member_id": "bo", "role": "admin"},
        InvalidValueError,
        ["role", "admin"],
    ),
    ("team_workspace", {"action": "add_member"}, InvalidValueError, ["member_id"]),
    (
        "session_scratch",
        {"action": "write", "set_entries": {"d": {"a": 1}}, "ttl_minutes": 0},
        InvalidValueError,
        ["ttl_minutes"],
    ),
    (
        "session_scratch",
        {"action": "write", "set_entries": {"d": {"a": 1}}, "ttl_minutes": "soon"},
        InvalidValueError,
        ["ttl_minutes", "number"],
    ),
    (
        "session_scratch",
        {"action": "write", "set_entries": {"d": [1, 2]}},
        InvalidValueError,
        ["entries.d"],
    ),
    (
        "session_scratch",
        {"action": "write", "set_entries": {"d": {"big": HUGE}}},
        InvalidValueError,
        ["bytes"],
    ),
    ("session_scratch", {"action": "wipe"}, InvalidValueError, ["action", "read, write, end"]),
]


@pytest.mark.parametrize(
    ("graph_name", "request_", "error", "expected"),
    NODE_CASES,
    ids=[f"{i:02d}-{case[0]}" for i, case in enumerate(NODE_CASES)],
)
async def test_bad_node_input_is_refused_and_writes_nothing(
    store: GuardedStore, people, unique, graph_name, request_, error, expected
) -> None:
    before = await seeded(store, people)
    graph = GRAPHS[graph_name]().build(store=store, checkpointer=InMemorySaver())
    with pytest.raises(error) as raised:
        await graph.ainvoke(request_, thread_config(unique("t")), context=people)
    message = str(raised.value)
    for text in expected:
        assert text in message, (text, message[:500])
    assert len(message) < 2000
    assert await snapshot(store, people) == before


@pytest.mark.parametrize("graph_name", sorted(GRAPHS))
async def test_node_without_user_or_store_is_refused(store, people, unique, graph_name) -> None:
    before = await seeded(store, people)
    requests = {
        "user_profile": {"set_fields": {"name": "Bo"}},
        "knowledge": {"action": "add", "topic": "bees", "claims": [GOOD_CLAIM]},
        "team_workspace": {"action": "write", "set_entries": {"s": {"a": 1}}},
        "session_scratch": {"action": "write", "set_entries": {"d": {"a": 1}}},
    }
    graph = GRAPHS[graph_name]().build(store=store, checkpointer=InMemorySaver())
    without_user = {k: v for k, v in people.items() if k != "user_id"}
    with pytest.raises(MissingIdentityError, match="No user for this run"):
        await graph.ainvoke(requests[graph_name], thread_config(unique("t")), context=without_user)
    storeless = GRAPHS[graph_name]().build(checkpointer=InMemorySaver())
    with pytest.raises(StoreUnavailableError, match="This run has no store"):
        await storeless.ainvoke(requests[graph_name], thread_config(unique("t")), context=people)
    assert await snapshot(store, people) == before


async def test_team_nodes_refuse_missing_team_and_non_members(store, people, unique) -> None:
    before = await seeded(store, people)
    graph = TeamWorkspaceGraph().build(store=store, checkpointer=InMemorySaver())
    request = {"action": "write", "set_entries": {"s": {"a": 1}}}
    with pytest.raises(MissingIdentityError, match="No team"):
        await graph.ainvoke(request, thread_config(unique("t")), context={"user_id": "x"})
    intruder = {"user_id": unique("intruder"), "team_id": people["team_id"]}
    with pytest.raises(AccessDeniedError):
        await graph.ainvoke(request, thread_config(unique("t")), context=intruder)
    assert await snapshot(store, people) == before


async def test_store_itself_refuses_bad_namespaces(store: GuardedStore, people) -> None:
    """What the HTTP API cannot even carry still reaches the store from code."""
    before = await seeded(store, people)
    cases: list[tuple[tuple, str]] = [
        (("user", "a.b", "memories"), r"'a\.b'.*(contain|periods)"),
        (("user", "", "memories"), r"(namespace\[1\] must not be empty|empty)"),
        ((), "(?i)namespace (must not|cannot) be empty"),
        (("langgraph", "x"), "'langgraph'.*reserved|cannot be \"langgraph\""),
        (("user", "a\x00", "m"), "NUL"),
        (("user", "x" * 201), "longer than 200"),
        (("user", 7), "must be (a string|strings)"),
        (tuple("abcdefghi"), "deeper than 8"),
    ]
    for namespace, expected in cases:
        # BaseStore.aput checks some labels itself (LangGraph's own InvalidNamespaceError,
        # also a ValueError); GuardedStore checks every op of a batch, put or not.
        with pytest.raises((InvalidNamespaceError, LangGraphNamespaceError), match=expected):
            await store.aput(namespace, "k", {"a": 1})
        with pytest.raises(InvalidNamespaceError, match=expected):
            await store.abatch([PutOp(namespace, "k", {"a": 1})])
    with pytest.raises(InvalidValueError, match="value: must be a JSON object"):
        await store.aput(namespaces.user_memories(people["user_id"]), "k", ["list"])
    # (aput turns a key into str itself; a batch carries it as given)
    with pytest.raises(InvalidValueError, match="key: must be a string, got int"):
        await store.abatch([PutOp(namespaces.user_memories(people["user_id"]), 5, {"a": 1})])
    with pytest.raises(InvalidValueError, match=r"ops\[1\]\.value\.n: is nan"):
        await store.abatch(
            [
                PutOp(namespaces.user_memories(people["user_id"]), "fine", {"n": 1}),
                PutOp(namespaces.user_memories(people["user_id"]), "bad", {"n": math.nan}),
            ]
        )
    with pytest.raises(InvalidValueError, match=r"value\.when.*datetime"):
        await store.aput(
            namespaces.user_memories(people["user_id"]), "k", {"when": datetime.now(UTC)}
        )
    assert await snapshot(store, people) == before


async def test_store_refuses_nul_in_filters_and_unusable_ttls(store: GuardedStore, people) -> None:
    """PostgreSQL fails on these inside SQL (a NUL, a TTL past its INT of minutes); every
    backend refuses them before running anything, naming the field."""
    before = await seeded(store, people)
    space = namespaces.user_memories(people["user_id"])
    filters: list[tuple[dict, str]] = [
        ({"ta\x00g": "x"}, r"^filter: has a key containing a NUL"),
        ({"tag": "x\x00y"}, r"^filter\.tag: contains a NUL"),
        ({"tag": {"$ne": "\x00"}}, r"^filter\.tag\.\$ne: contains a NUL"),
        ({"tags": ["a", "b\x00"]}, r"^filter\.tags\[1\]: contains a NUL"),
        ({"n": {"$gte": math.inf}}, r"^filter\.n\.\$gte: is inf"),
    ]
    for bad, expected in filters:
        with pytest.raises(InvalidValueError, match=expected):
            await store.asearch(space, filter=bad)
    for ttl in (1e300, math.inf, math.nan, -5, 0, "10", True):
        with pytest.raises(InvalidValueError, match=r"^ttl: "):
            await store.abatch([PutOp(space, "ttl-bad", {"a": 1}, ttl=ttl)])
    assert await snapshot(store, people) == before


# --- the HTTP store API of a real `langgraph dev` ------------------------------------------

HTTP_NAMESPACE = ["user", "http-bad", "memories"]
RESERVED = r"'langgraph'.*reserved|cannot be \\?\"langgraph"  # ours, or LangGraph's own

# (method, path, raw JSON body, statuses allowed, what the message must say).
HTTP_CASES: list[tuple[str, str, str, set[int], list[str]]] = [
    (
        "PUT",
        "/store/items",
        json.dumps({"namespace": ["langgraph", "x"], "key": "k", "value": {"a": 1}}),
        {400, 422},
        [RESERVED],
    ),
    (
        "PUT",
        "/store/items",
        json.dumps({"namespace": ["user", "a.b"], "key": "k", "value": {"a": 1}}),
        {400, 422},
        ["a.b"],
    ),
    (
        "PUT",
        "/store/items",
        json.dumps({"namespace": ["user", "", "m"], "key": "k", "value": {"a": 1}}),
        {400, 422},
        ["''|empty"],
    ),
    (
        "PUT",
        "/store/items",
        json.dumps({"namespace": [], "key": "k", "value": {"a": 1}}),
        {400, 422},
        ["(?i)namespace (must not|cannot) be empty"],
    ),
    (
        "PUT",
        "/store/items",
        json.dumps({"namespace": HTTP_NAMESPACE, "key": "k", "value": {"a": "x\u0000y"}}),
        {400, 422},
        ["value.a", "NUL"],
    ),
    (
        "PUT",
        "/store/items",
        '{"namespace": ["user", "http-bad", "memories"], "key": "k", "value": {"a": NaN}}',
        {400, 422},
        [],
    ),
    (
        "PUT",
        "/store/items",
        json.dumps({"namespace": HTTP_NAMESPACE, "key": "k", "value": {"a": HUGE}}),
        {400, 413, 422},
        ["bytes"],
    ),
    (
        "PUT",
        "/store/items",
        json.dumps({"namespace": HTTP_NAMESPACE, "key": "k", "value": DEEP}),
        {400, 422},
        ["deeper than 32"],
    ),
    (
        "PUT",
        "/store/items",
        json.dumps({"namespace": HTTP_NAMESPACE, "key": LONG_KEY, "value": {"a": 1}}),
        {400, 422},
        ["at most 256"],
    ),
    (
        "PUT",
        "/store/items",
        json.dumps({"namespace": HTTP_NAMESPACE, "key": "a\u0000b", "value": {"a": 1}}),
        {400, 422},
        ["NUL"],
    ),
    (
        "PUT",
        "/store/items",
        json.dumps({"namespace": HTTP_NAMESPACE, "key": "k", "value": [1, 2]}),
        {400, 422},
        ["value"],
    ),
    (
        "PUT",
        "/store/items",
        json.dumps({"namespace": HTTP_NAMESPACE, "key": 5, "value": {"a": 1}}),
        {400, 422},
        ["key"],
    ),
    (
        "PUT",
        "/store/items",
        json.dumps({"namespace": "user.http-bad", "key": "k", "value": {"a": 1}}),
        {400, 422},
        ["namespace"],
    ),
    ("PUT", "/store/items", "this is not JSON", {400, 422}, []),
    (
        "POST",
        "/store/items/search",
        json.dumps({"namespace_prefix": HTTP_NAMESPACE, "limit": -1}),
        {400, 422},
        ["limit"],
    ),
    ("POST", "/store/namespaces", json.dumps({"prefix": ["langgraph"]}), {400, 422}, [RESERVED]),
    (
        "POST",
        "/store/items/search",
        json.dumps({"namespace_prefix": HTTP_NAMESPACE, "filter": {"ta\u0000g": "x"}}),
        {400, 422},
        ["filter", "NUL"],
    ),
    (
        "POST",
        "/store/items/search",
        json.dumps({"namespace_prefix": HTTP_NAMESPACE, "filter": {"tag": "x\u0000y"}}),
        {400, 422},
        [r"filter\.tag", "NUL"],
    ),
    (
        "PUT",
        "/store/items",
        json.dumps({"namespace": HTTP_NAMESPACE, "key": "k", "value": {"a": 1}, "ttl": 1e300}),
        {400, 422},
        ["ttl"],
    ),
    (
        "PUT",
        "/store/items",
        json.dumps({"namespace": HTTP_NAMESPACE, "key": "k", "value": {"a": 1}, "ttl": -5}),
        {400, 422},
        ["ttl"],
    ),
]


async def test_http_store_api_refuses_bad_input_and_keeps_serving(
    fresh_database: str, tmp_path: Path
) -> None:
    env = {
        "MEMORY_BACKEND": "postgres",
        "POSTGRES_URI": fresh_database,
        "OPENAI_API_KEY": "",
        **TEST_EMBEDDINGS,
    }
    with running_dev_server(env, tmp_path) as url:
        client = get_client(url=url)
        await client.store.put_item(HTTP_NAMESPACE, "kept", {"a": 1})

        async def items() -> list[tuple]:
            found = await client.store.search_items(["user"], limit=1000)
            return sorted(
                (tuple(i["namespace"]), i["key"], json.dumps(i["value"])) for i in found["items"]
            )

        before = await items()
        problems: list[str] = []
        for method, path, body, allowed, expected in HTTP_CASES:
            # A connection per request: a server error closes the connection it came on.
            async with httpx.AsyncClient(base_url=url, timeout=60) as http:
                response = await http.request(
                    method, path, content=body, headers={"content-type": "application/json"}
                )
            what = f"{method} {path} {body[:100]!r} -> {response.status_code}"
            if response.status_code not in allowed:
                problems.append(f"{what}: {response.text[:300]}")
            if not response.text.strip():  # some message, not an empty body
                problems.append(f"{what}: empty body")
            problems.extend(
                f"{what}: no {pattern!r} in {response.text[:300]}"
                for pattern in expected
                if not re.search(pattern, response.text)
            )
            if len(response.text) > 5000:  # a huge value is not echoed back
                problems.append(f"{what}: {len(response.text)} characters of answer")
        assert problems == []

        # The SDK refuses nothing of this client-side: the server's answer reaches the caller.
        with pytest.raises(httpx.HTTPStatusError) as raised:
            await client.store.put_item(["langgraph", "x"], "k", {"a": 1})
        assert raised.value.response.status_code == 400
        assert re.search(RESERVED, raised.value.response.text)

        assert await items() == before

        # A run with bad input fails with the node's message; nothing is written.
        thread = await client.threads.create()
        bad = await client.runs.wait(
            thread["thread_id"],
            "user_profile",
            input={"set_fields": {"name": "Bo", "pet": {"kind": "cat"}}},
            context={"user_id": "http-bad"},
            raise_error=False,
        )
        assert "fields.pet" in json.dumps(bad), bad
        nouser = await client.runs.wait(
            (await client.threads.create())["thread_id"],
            "user_profile",
            input={"set_fields": {"name": "Bo"}},
            raise_error=False,
        )
        # The client learns why: the error's type and its message.
        assert nouser["__error__"]["error"] == "MissingIdentityError", nouser
        assert "No user for this run" in nouser["__error__"]["message"], nouser
        assert await items() == before

        # And the server still serves: /ok and a normal run.
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            assert (await http.get("/ok")).status_code == 200
        good = await client.runs.wait(
            thread["thread_id"],
            "user_profile",
            input={"set_fields": {"name": "Bo"}},
            context={"user_id": "http-bad"},
        )
        assert good["profile"] == {"name": "Bo"}


async def test_a_ttl_the_backend_cannot_keep_is_refused_naming_it(store: GuardedStore, unique):
    space = namespaces.user_memories(unique("ttl-kept"))
    if store.supports_ttl:
        await store.aput(space, "k", {"a": 1}, ttl=5)
        assert (await store.aget(space, "k")).value == {"a": 1}
        return
    with pytest.raises(InvalidValueError, match=r"^ttl: ") as refused:
        await store.aput(space, "k", {"a": 1}, ttl=5)
    assert isinstance(refused.value, NotImplementedError)  # what LangGraph raises there
    with pytest.raises(InvalidValueError, match=r"^ttl: "):
        store.put(space, "k", {"a": 1}, ttl=5)
    assert await store.aget(space, "k") is None


async def test_http_put_with_a_ttl_on_the_memory_backend_is_a_4xx(tmp_path: Path) -> None:
    env = {"MEMORY_BACKEND": "memory", "OPENAI_API_KEY": "", **TEST_EMBEDDINGS}
    with running_dev_server(env, tmp_path) as url:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            body = {"namespace": HTTP_NAMESPACE, "key": "k", "value": {"a": 1}, "ttl": 5}
            response = await http.put("/store/items", json=body)
            assert 400 <= response.status_code < 500, response.text
            assert "ttl" in response.text
            kept = await http.put("/store/items", json={**body, "ttl": None})
            assert kept.status_code < 300, kept.text
