"""BaseNode rules: signature checked at class definition, injection, result check."""

from __future__ import annotations

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.store.memory import InMemoryStore
from langgraph.types import Command
from typing_extensions import TypedDict

from casts.base_node import AsyncBaseNode, BaseNode
from casts.memory.core.context import MemoryContext


class State(TypedDict, total=False):
    seen: list[str]
    result: str


def run_one(node: BaseNode | AsyncBaseNode):
    builder = StateGraph(State, context_schema=MemoryContext)
    builder.add_node(node.name, node)
    builder.add_edge(START, node.name)
    builder.add_edge(node.name, END)
    return builder.compile(store=InMemoryStore())


def test_name_defaults_to_snake_case_of_class():
    class LoadUserProfile(BaseNode):
        def execute(self, state):
            return {}

    assert LoadUserProfile().name == "load_user_profile"


@pytest.mark.parametrize(
    "params, bad",
    [
        ("self, state, store", "store"),
        ("self, state, config, extra", "extra"),
        ("self, state, *args", "args"),
        ("self, state, **kwargs", "kwargs"),
        ("self, state, runtime, runtime2", "runtime2"),
    ],
)
def test_wrong_parameter_is_refused_at_class_definition(params, bad):
    namespace: dict = {}
    exec(f"def execute({params}):\n    return {{}}", namespace)
    with pytest.raises(TypeError) as caught:
        type("BadNode", (BaseNode,), {"execute": namespace["execute"]})
    assert "BadNode" in str(caught.value)
    assert repr(bad) in str(caught.value)


def test_missing_state_is_refused():
    with pytest.raises(TypeError, match="NoState"):

        class NoState(BaseNode):
            def execute(self):
                return {}


def test_async_execute_on_sync_node_is_refused():
    with pytest.raises(TypeError, match=r"SyncButAsync.execute must be 'def'"):

        class SyncButAsync(BaseNode):
            async def execute(self, state):
                return {}


def test_sync_execute_on_async_node_is_refused():
    with pytest.raises(TypeError, match=r"AsyncButSync.execute must be 'async def'"):

        class AsyncButSync(AsyncBaseNode):
            def execute(self, state):
                return {}


def test_each_node_gets_exactly_the_parameters_it_declares():
    class Both(BaseNode):
        def execute(self, state, config, runtime):
            return {"result": f"{config['configurable']['marker']}/{runtime.context.user_id}"}

    class RuntimeOnly(BaseNode):
        def execute(self, state, runtime):
            return {"result": runtime.context.user_id}

    class Neither(BaseNode):
        def execute(self, state):
            return {"result": "nothing injected"}

    config = {"configurable": {"marker": "m-1"}}
    context = {"user_id": "ada"}
    assert run_one(Both()).invoke({}, config, context=context)["result"] == "m-1/ada"
    assert run_one(RuntimeOnly()).invoke({}, config, context=context)["result"] == "ada"
    assert run_one(Neither()).invoke({}, config, context=context)["result"] == "nothing injected"


def test_node_receives_only_what_execute_declares():
    class Inspect(BaseNode):
        def execute(self, state, runtime: Runtime[MemoryContext]):
            return {"seen": ["runtime"], "result": runtime.context.user_id}

    graph = run_one(Inspect())
    out = graph.invoke({}, context={"user_id": "ada"})
    assert out == {"seen": ["runtime"], "result": "ada"}


def test_config_is_injected():
    class WithConfig(BaseNode):
        def execute(self, state, config: RunnableConfig):
            return {"result": config["configurable"]["marker"]}

    out = run_one(WithConfig()).invoke({}, {"configurable": {"marker": "m-1"}})
    assert out["result"] == "m-1"


async def test_async_node_runs_and_gets_the_store():
    class AsyncStoreUser(AsyncBaseNode):
        async def execute(self, state, runtime: Runtime[MemoryContext]):
            await runtime.store.aput(("user", "a"), "k", {"v": 1})
            item = await runtime.store.aget(("user", "a"), "k")
            return {"result": str(item.value["v"])}

    out = await run_one(AsyncStoreUser()).ainvoke({})
    assert out["result"] == "1"


def test_command_is_a_valid_result():
    class Jump(BaseNode):
        def execute(self, state):
            return Command(update={"result": "jumped"})

    assert run_one(Jump()).invoke({})["result"] == "jumped"


@pytest.mark.parametrize("bad_result", [None, "text", ["list"], 3])
def test_other_results_raise_naming_the_node(bad_result):
    class Sloppy(BaseNode):
        def execute(self, state):
            return bad_result

    with pytest.raises(TypeError, match=r"Node 'sloppy' \(Sloppy.execute\) returned"):
        run_one(Sloppy()).invoke({})


async def test_async_node_result_is_checked_too():
    class SloppyAsync(AsyncBaseNode):
        async def execute(self, state):
            return "nope"

    with pytest.raises(TypeError, match="sloppy_async"):
        await run_one(SloppyAsync()).ainvoke({})


def test_subclass_of_a_node_inherits_its_checked_execute():
    class Parent(BaseNode):
        def execute(self, state, runtime):
            return {"result": f"parent for {runtime.context.user_id}"}

    class Child(Parent):
        pass

    assert Child().name == "child"
    assert run_one(Child()).invoke({}, context={"user_id": "ada"})["result"] == "parent for ada"
