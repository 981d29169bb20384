"""The knowledge cast on both backends: accumulation, confirmation, supersession, bad input."""

from __future__ import annotations

import asyncio

import pytest
from langchain.agents import create_agent
from langchain_core.messages import ToolMessage

from casts.knowledge.graph import KnowledgeGraph
from casts.knowledge.modules.tools import KNOWLEDGE_TOOLS
from casts.memory import namespaces
from casts.memory.core.context import MemoryContext
from casts.memory.core.errors import InvalidValueError, MissingIdentityError
from casts.memory.kinds.knowledge import add_facts, fact_key, list_facts
from casts.memory.store.reading import asearch_all
from tests.conversation import thread_config
from tests.fake_models import scripted, tool_call


@pytest.fixture
def graph(store, checkpointer):
    return KnowledgeGraph().build(store=store, checkpointer=checkpointer)


def claim(content: str, source: str = "docs", confidence: float = 0.8, **extra) -> dict:
    return {"content": content, "source": source, "confidence": confidence, **extra}


async def test_fact_added_in_one_thread_is_listed_and_found_in_another(graph, unique):
    user = unique("ada")
    added = await graph.ainvoke(
        {
            "action": "add",
            "topic": "billing.api",
            "claims": [claim("The rate limit is 100 requests per minute.")],
        },
        thread_config(unique("t1")),
        context={"user_id": user},
    )
    key = added["facts"][0]["key"]
    assert added["written"] == [key]
    listed = await graph.ainvoke(
        {"action": "list", "topic": "billing.api"},
        thread_config(unique("t2")),
        context={"user_id": user},
    )
    assert [fact["content"] for fact in listed["facts"]] == [
        "The rate limit is 100 requests per minute."
    ]
    assert listed["topics"] == ["billing.api"]
    found = await graph.ainvoke(
        {"action": "search", "query": "rate limit requests per minute"},
        thread_config(unique("t3")),
        context={"user_id": user},
    )
    assert [fact["key"] for fact in found["facts"]] == [key]


async def test_same_claim_again_confirms_instead_of_duplicating(graph, store, unique):
    user = unique("bo")
    await graph.ainvoke(
        {
            "action": "add",
            "topic": "infra",
            "claims": [
                claim(
                    "Deploys run on Fridays",
                    source="wiki",
                    confidence=0.6,
                    observed_at="2025-01-01T10:00:00+00:00",
                )
            ],
        },
        thread_config(unique("t")),
        context={"user_id": user},
    )
    out = await graph.ainvoke(
        {
            "action": "add",
            "topic": "infra",
            "claims": [
                claim(
                    "  deploys   run on FRIDAYS. ",
                    source="chat",
                    confidence=0.9,
                    observed_at="2025-03-01T12:00:00+02:00",
                )
            ],
        },
        thread_config(unique("t")),
        context={"user_id": user},
    )
    (fact,) = out["facts"]
    assert fact["confirmations"] == 2
    assert fact["sources"] == ["wiki", "chat"]
    assert fact["source"] == "wiki"
    assert fact["confidence"] == 0.9
    assert fact["observed_at"] == "2025-03-01T10:00:00+00:00"
    (items,) = await asearch_all(store, namespaces.user_knowledge(user, "infra"))
    assert len(items) == 1


async def test_contradicting_claim_supersedes_and_keeps_provenance(graph, store, unique):
    user = unique("cy")
    first = await graph.ainvoke(
        {"action": "add", "topic": "team", "claims": [claim("The lead is Alice")]},
        thread_config(unique("t")),
        context={"user_id": user},
    )
    old_key = first["facts"][0]["key"]
    second = await graph.ainvoke(
        {
            "action": "add",
            "topic": "team",
            "claims": [claim("The lead is Bob", source="org chart", supersedes=old_key)],
        },
        thread_config(unique("t")),
        context={"user_id": user},
    )
    new = second["facts"][0]
    assert new["supersedes"] == old_key
    assert set(second["written"]) == {new["key"], old_key}

    current = await graph.ainvoke(
        {"action": "list", "topic": "team"}, thread_config(unique("t")), context={"user_id": user}
    )
    assert [fact["content"] for fact in current["facts"]] == ["The lead is Bob"]
    everything = await list_facts(store, user, "team", include_superseded=True)
    old = next(stored.fact for stored in everything if stored.key == old_key)
    assert old.status == "superseded"
    assert old.superseded_by == new["key"]
    assert old.superseded_at is not None

    found = await graph.ainvoke(
        {"action": "search", "query": "The lead is Alice", "topic": "team"},
        thread_config(unique("t")),
        context={"user_id": user},
    )
    assert old_key not in [fact["key"] for fact in found["facts"]]

    with pytest.raises(InvalidValueError) as caught:
        await add_facts(store, user, "team", [claim("The lead is Carol", supersedes=old_key)])
    assert caught.value.field == "claims[0].supersedes"
    assert "already superseded" in caught.value.reason


async def test_listing_pages_past_the_default_search_limit(store, unique):
    user = unique("many")
    await add_facts(store, user, "bulk", [claim(f"Fact number {n}") for n in range(30)])
    facts = await list_facts(store, user, "bulk")
    assert len({stored.key for stored in facts}) == 30


async def test_bad_claim_names_the_field_and_writes_nothing(graph, store, unique):
    user = unique("eve")
    with pytest.raises(InvalidValueError) as caught:
        await graph.ainvoke(
            {
                "action": "add",
                "topic": "t",
                "claims": [claim("Fine claim"), claim("Too sure", confidence=1.5)],
            },
            thread_config(unique("t")),
            context={"user_id": user},
        )
    assert caught.value.field == "claims[1].confidence"
    with pytest.raises(InvalidValueError) as caught:
        await graph.ainvoke(
            {
                "action": "add",
                "topic": "t",
                "claims": [claim("Fine claim"), claim("Orphan", supersedes="fact-missing")],
            },
            thread_config(unique("t")),
            context={"user_id": user},
        )
    assert caught.value.field == "claims[1].supersedes"
    with pytest.raises(InvalidValueError) as caught:
        await graph.ainvoke(
            {"action": "forget"}, thread_config(unique("t")), context={"user_id": user}
        )
    assert caught.value.field == "action"
    (items,) = await asearch_all(store, namespaces.user_root(user))
    assert items == []


async def test_missing_user_is_refused(graph):
    with pytest.raises(MissingIdentityError):
        await graph.ainvoke(
            {"action": "add", "topic": "t", "claims": [claim("x")]}, thread_config("t-none")
        )


async def test_request_is_not_replayed_on_the_same_thread(graph, unique):
    user, thread = unique("re"), unique("thread")
    await graph.ainvoke(
        {"action": "add", "topic": "t", "claims": [claim("Only once")]},
        thread_config(thread),
        context={"user_id": user},
    )
    with pytest.raises(InvalidValueError) as caught:
        await graph.ainvoke({}, thread_config(thread), context={"user_id": user})
    assert caught.value.field == "action"
    listed = await graph.ainvoke(
        {"action": "list", "topic": "t"}, thread_config(thread), context={"user_id": user}
    )
    assert listed["facts"][0]["confirmations"] == 1
    assert listed["written"] == []


async def test_agent_tools_record_confirm_and_report_errors(store, checkpointer, unique):
    user = unique("agent")
    model = scripted(
        tool_call("add_fact", topic="pets", content="Rex is a dog", source="user", confidence=0.7),
        tool_call("add_fact", topic="pets", content="Rex is a dog", source="vet", confidence=0.9),
        tool_call("add_fact", topic="pets", content="Rex is a cat", source="user", confidence=2),
        tool_call("list_knowledge", topic="pets"),
        "done",
    )
    agent = create_agent(
        model,
        KNOWLEDGE_TOOLS,
        context_schema=MemoryContext,
        store=store,
        checkpointer=checkpointer,
    )
    out = await agent.ainvoke(
        {"messages": [("user", "remember Rex")]},
        thread_config(unique("t")),
        context=MemoryContext(user_id=user),
    )
    results = [m.content for m in out["messages"] if isinstance(m, ToolMessage)]
    assert results[2].startswith("Error: claims[0].confidence")
    facts = await list_facts(store, user, "pets")
    assert [(s.key, s.fact.confirmations, s.fact.sources) for s in facts] == [
        (fact_key("Rex is a dog"), 2, ["user", "vet"])
    ]


async def test_concurrent_statements_of_one_claim_keep_every_confirmation(store, unique):
    user = unique("race")
    await asyncio.gather(
        *(add_facts(store, user, "race", [claim("Same claim", source=f"s{n}")]) for n in range(8))
    )
    (items,) = await asearch_all(store, namespaces.user_knowledge(user, "race"))
    assert [item.key for item in items] == [fact_key("same claim.")]
    (fact,) = await list_facts(store, user, "race")
    assert fact.fact.confirmations == 8
    assert sorted(fact.fact.sources) == [f"s{n}" for n in range(8)]
    await asyncio.gather(
        *(add_facts(store, user, "race", [claim("same claim!", source=f"t{n}")]) for n in range(8))
    )
    (fact,) = await list_facts(store, user, "race")
    assert fact.fact.confirmations == 16
    assert sorted(fact.fact.sources) == sorted(
        [f"s{n}" for n in range(8)] + [f"t{n}" for n in range(8)]
    )


async def test_confirmations_during_a_supersession_lose_neither(store, unique):
    user = unique("clash")
    (old,) = (await add_facts(store, user, "t", [claim("Lead is Alice", source="s0")])).facts
    await asyncio.gather(
        add_facts(store, user, "t", [claim("Lead is Bob", source="hr", supersedes=old.key)]),
        *(
            add_facts(store, user, "t", [claim("Lead is Alice", source=f"s{n}")])
            for n in range(1, 9)
        ),
    )
    everything = {
        s.key: s.fact for s in await list_facts(store, user, "t", include_superseded=True)
    }
    alice = everything[old.key]
    assert alice.status == "superseded"
    assert alice.superseded_by == fact_key("Lead is Bob")
    assert alice.confirmations == 9
    assert sorted(alice.sources) == [f"s{n}" for n in range(9)]


@pytest.mark.parametrize(
    "first, second",
    [
        ("Temperature is -5 degrees", "Temperature is 5 degrees"),
        ("The service is written in C++", "The service is written in C"),
        ("The fee is 5%", "The fee is 5"),
    ],
)
async def test_claims_differing_in_a_symbol_are_different_facts(store, unique, first, second):
    user = unique("symbols")
    await add_facts(store, user, "t", [claim(first, source="a")])
    await add_facts(store, user, "t", [claim(second, source="b")])
    facts = await list_facts(store, user, "t")
    assert sorted((s.fact.content, s.fact.confirmations, s.fact.sources) for s in facts) == sorted(
        [(first, 1, ["a"]), (second, 1, ["b"])]
    )


async def test_facts_stored_before_statements_keep_their_confirmations(store, unique):
    user = unique("legacy")
    namespace = namespaces.user_knowledge(user, "t")
    key = fact_key("Rex is a dog")
    legacy = {
        "content": "Rex is a dog",
        "topic": "t",
        "source": "user",
        "confidence": 0.9,
        "observed_at": "2025-01-01T00:00:00+00:00",
        "status": "current",
        "superseded_by": None,
        "superseded_at": None,
        "supersedes": None,
        "confirmations": 2,
        "sources": ["user", "vet"],
    }
    await store.aput(namespace, key, legacy)
    (fact,) = (await add_facts(store, user, "t", [claim("rex is a dog", source="shelter")])).facts
    assert (fact.key, fact.fact.confirmations) == (key, 3)
    assert fact.fact.sources == ["user", "vet", "shelter"]
    assert fact.fact.confidence == 0.9


async def test_superseded_claim_can_come_back_only_by_superseding_its_successor(store, unique):
    user = unique("flip")
    (alice,) = (await add_facts(store, user, "t", [claim("Lead is Alice")])).facts
    (bob,) = (await add_facts(store, user, "t", [claim("Lead is Bob", supersedes=alice.key)])).facts
    again = await add_facts(store, user, "t", [claim("Lead is Alice", source="hr")])
    assert again.facts[0].fact.status == "superseded"
    assert again.facts[0].fact.confirmations == 2
    back = await add_facts(store, user, "t", [claim("Lead is Alice", supersedes=bob.key)])
    assert back.facts[0].fact.status == "current"
    assert back.facts[0].fact.supersedes == bob.key
    assert [stored.key for stored in back.superseded] == [bob.key]
    assert [stored.key for stored in await list_facts(store, user, "t")] == [alice.key]
