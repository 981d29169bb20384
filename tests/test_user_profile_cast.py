"""The user-profile cast on both backends: cross-thread, concurrent, bad input."""

from __future__ import annotations

import asyncio

import pytest

from casts.memory import namespaces
from casts.memory.core.errors import InvalidValueError, MissingIdentityError
from casts.memory.store.reading import asearch_all
from casts.user_profile.graph import UserProfileGraph
from tests.conversation import thread_config


@pytest.fixture
def graph(store, checkpointer):
    return UserProfileGraph().build(store=store, checkpointer=checkpointer)


async def test_written_in_one_thread_read_in_another(graph, unique):
    user = unique("ada")
    first = await graph.ainvoke(
        {"set_fields": {"name": "Ada"}, "set_preferences": {"theme": "dark"}},
        thread_config(unique("t1")),
        context={"user_id": user},
    )
    assert first["changed"] == ["fields.name", "preferences.theme"]
    second = await graph.ainvoke({}, thread_config(unique("t2")), context={"user_id": user})
    assert second["profile"] == {"name": "Ada"}
    assert second["preferences"] == {"theme": "dark"}


async def test_requests_are_not_replayed_on_the_same_thread(graph, store, unique):
    user, thread = unique("bo"), unique("thread")
    await graph.ainvoke(
        {"set_fields": {"city": "Oslo"}}, thread_config(thread), context={"user_id": user}
    )
    await graph.ainvoke(
        {"remove_fields": ["city"]}, thread_config(unique("other")), context={"user_id": user}
    )
    again = await graph.ainvoke({}, thread_config(thread), context={"user_id": user})
    assert again["profile"] == {}
    assert again["changed"] == []


async def test_users_do_not_see_each_other(graph, unique):
    await graph.ainvoke(
        {"set_fields": {"name": "A"}}, thread_config(unique("t")), context={"user_id": unique("a")}
    )
    other = await graph.ainvoke({}, thread_config(unique("t")), context={"user_id": unique("b")})
    assert other["profile"] == {}


async def test_configurable_user_id_still_works(graph, unique):
    user = unique("legacy")
    config = {"configurable": {"thread_id": unique("t"), "user_id": user}}
    out = await graph.ainvoke({"set_preferences": {"lang": "fr"}}, config)
    assert out["preferences"] == {"lang": "fr"}


async def test_a_failed_request_is_not_inherited_by_the_next_run(graph, unique):
    user, thread = unique("retry"), unique("thread")
    with pytest.raises(InvalidValueError):
        await graph.ainvoke(
            {"set_fields": {"bad": {"x": 1}}}, thread_config(thread), context={"user_id": user}
        )
    again = await graph.ainvoke({}, thread_config(thread), context={"user_id": user})
    assert again["profile"] == {}
    assert again["changed"] == []


async def test_missing_user_is_refused_and_nothing_written(graph, store, unique):
    name = unique("nobody")
    with pytest.raises(MissingIdentityError):
        await graph.ainvoke({"set_fields": {"name": name}}, thread_config(unique("t")))
    (anywhere,) = await asearch_all(store, ("user",), filter={"value": name})
    assert anywhere == []  # not under a default or empty user either


async def test_bad_field_names_the_field_and_writes_nothing(graph, store, unique):
    user = unique("eve")
    with pytest.raises(InvalidValueError) as caught:
        await graph.ainvoke(
            {"set_fields": {"name": "Eve", "bio": {"nested": "objects are not scalars"}}},
            thread_config(unique("t")),
            context={"user_id": user},
        )
    assert caught.value.field == "fields.bio"
    (items,) = await asearch_all(store, namespaces.user_root(user))
    assert items == []


async def test_concurrent_updates_of_different_fields_lose_nothing(graph, unique):
    user = unique("many")
    fields = {f"field_{n}": n for n in range(50)}
    await asyncio.gather(
        *(
            graph.ainvoke(
                {"set_fields": {name: value}},
                thread_config(unique(f"t{value}")),
                context={"user_id": user},
            )
            for name, value in fields.items()
        )
    )
    out = await graph.ainvoke({}, thread_config(unique("reader")), context={"user_id": user})
    assert out["profile"] == fields


async def test_removals_must_be_a_list_of_keys(graph, store, unique):
    user = unique("rm")
    await graph.ainvoke(
        {"set_fields": {"name": "A"}}, thread_config(unique("t")), context={"user_id": user}
    )
    with pytest.raises(InvalidValueError) as caught:
        await graph.ainvoke(
            {"remove_fields": "name"}, thread_config(unique("t")), context={"user_id": user}
        )
    assert caught.value.field == "remove_fields"
    with pytest.raises(InvalidValueError) as caught:
        await graph.ainvoke(
            {"set_fields": {"city": "Oslo"}, "remove_fields": ["ok", ""]},
            thread_config(unique("t")),
            context={"user_id": user},
        )
    assert caught.value.field == "remove_fields[1]"
    out = await graph.ainvoke({}, thread_config(unique("t")), context={"user_id": user})
    assert out["profile"] == {"name": "A"}  # neither request wrote anything
