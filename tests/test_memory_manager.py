"""The memory manager cast on both backends; only the chat model is scripted.

It extracts each kind of memory with provenance, chooses add / confirm / update / supersede
as the model decides (validated against what recall showed it), keeps different facts
apart, is idempotent per thread, and refuses bad model output with nothing written.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from casts.memory import formation, memories, namespaces, profiles
from casts.memory.store.reading import asearch_all
from casts.memory_manager.graph import MemoryManagerGraph
from tests.fake_models import RecordingModel, tool_call
from tests.fake_models import recording as model

THREAD = "conversation-1"


def extraction(*candidates: dict[str, Any]) -> AIMessage:
    return tool_call("Extraction", candidates=list(candidates))


def decisions(*chosen: dict[str, Any]) -> AIMessage:
    return tool_call("Decisions", decisions=list(chosen))


def candidate(content: str, *ids: str, kind: str = "fact", **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "content": content, "message_ids": list(ids or ["m1"]), **extra}


def conversation(*texts: str, start: int = 1) -> list[dict[str, str]]:
    return [
        {"id": f"m{n}", "type": "human" if n % 2 else "ai", "content": text}
        for n, text in enumerate(texts, start=start)
    ]


async def run(store, user: str, script: RecordingModel, messages, thread: str = THREAD) -> dict:
    app = MemoryManagerGraph(model=script).build(store=store)
    return await app.ainvoke(
        {"action": "extract", "thread_id": thread, "messages": messages},
        context={"user_id": user},
    )


async def stored(store, user: str) -> dict[str, dict[str, Any]]:
    (items,) = await asearch_all(store, namespaces.user_memories(user))
    return {item.key: item.value for item in items}


async def test_extracts_each_kind_with_provenance(store, unique):
    user = unique("ada")
    said = conversation(
        "I'm Ada, I work as a nurse and I prefer short answers. My exam is on 2026-06-03.",
        "Good luck with the exam!",
    )
    script = model(
        extraction(
            candidate("Ada works as a nurse"),
            candidate("Ada prefers short answers", kind="preference"),
            candidate("Ada has an exam", kind="event", occurred_at="2026-06-03"),
            candidate("Ada's name is Ada", kind="profile", field="name", value="Ada"),
        ),
        decisions(
            {"candidate": 0, "action": "add"},
            {"candidate": 1, "action": "add"},
            {"candidate": 2, "action": "add"},
        ),
    )
    out = await run(store, user, script, said)

    assert out["rejected"] == []
    assert [(d["action"], d["kind"]) for d in out["decisions"]] == [
        ("add", "fact"),
        ("add", "preference"),
        ("add", "event"),
        ("add", "profile"),
    ]
    assert out["read_up_to"] == "m2"
    found = await stored(store, user)
    by_content = {value["content"]: value for value in found.values()}
    assert set(by_content) == {
        "Ada works as a nurse",
        "Ada prefers short answers",
        "Ada has an exam",
    }
    assert by_content["Ada prefers short answers"]["kind"] == "preference"
    assert by_content["Ada has an exam"]["kind"] == "event"
    assert by_content["Ada has an exam"]["occurred_at"] == "2026-06-03"
    (provenance,) = by_content["Ada works as a nurse"]["provenance"]
    assert provenance["thread_id"] == THREAD
    assert provenance["message_ids"] == ["m1"]
    assert provenance["model"] == "scripted-model"
    assert provenance["extracted_at"]
    assert (await profiles.read_profile(store, user)).fields == {"name": "Ada"}
    # The model read the transcript with the message ids it cites.
    assert "[m1] human: I'm Ada" in script.received[0][0].content


async def test_confirm_update_and_supersede_as_decided(store, unique):
    user = unique("bo")
    confirmed = await memories.remember(store, user, "Bo likes jazz")
    corrected = await memories.remember(store, user, "Bo has two cats")
    moved = await memories.remember(store, user, "Bo lives in Paris")
    script = model(
        extraction(
            candidate("Bo likes jazz music"),
            candidate("Bo has three cats"),
            candidate("Bo lives in Berlin"),
        ),
        decisions(
            {"candidate": 0, "action": "confirm", "key": confirmed.key},
            {"candidate": 1, "action": "update", "key": corrected.key},
            {"candidate": 2, "action": "supersede", "key": moved.key},
        ),
    )
    out = await run(
        store,
        user,
        script,
        conversation("I still love jazz. Correction: I have three cats. I moved to Berlin."),
    )

    assert [(d["action"], d["replaced"]) for d in out["decisions"]] == [
        ("confirm", confirmed.key),
        ("update", corrected.key),
        ("supersede", moved.key),
    ]
    found = await stored(store, user)
    assert found[confirmed.key]["content"] == "Bo likes jazz"
    assert found[confirmed.key]["provenance"][0]["message_ids"] == ["m1"]
    assert corrected.key not in found
    berlin = memories.memory_key("Bo lives in Berlin")
    assert found[memories.memory_key("Bo has three cats")]["content"] == "Bo has three cats"
    old = found[moved.key]
    assert old["content"] == "Bo lives in Paris"
    assert old["status"] == "superseded"
    assert old["superseded_by"] == berlin
    assert old["superseded_at"]
    assert found[berlin]["content"] == "Bo lives in Berlin"
    # Recall (what the agent's prompt loads) shows what is true now, not the history.
    hits = await memories.recall_memories(store, user, "where does Bo live Paris Berlin", 5)
    assert berlin in [hit.key for hit in hits]
    assert moved.key not in [hit.key for hit in hits]
    # The decision prompt showed the model the related memories with their keys.
    assert moved.key in script.received[1][0].content


async def test_recall_shows_current_memories_even_when_superseded_ones_rank_first(store, unique):
    user = unique("bo")
    paris = await memories.remember(store, user, "Bo lives in Paris")
    lyon = await memories.supersede(store, user, paris.key, "Bo lives in Lyon")
    berlin = await memories.supersede(store, user, lyon.key, "Bo lives in Berlin")
    for limit in (1, 2, 5):
        hits = await memories.recall_memories(store, user, "Bo lives in Paris or Lyon", limit)
        assert [hit.key for hit in hits] == [berlin.key], limit
    found = await stored(store, user)
    assert found[paris.key]["superseded_by"] == lyon.key
    assert found[lyon.key]["superseded_by"] == berlin.key
    assert found[berlin.key].get("status") is None


async def test_a_sister_and_a_brother_stay_two_memories(store, unique):
    user = unique("cy")
    sister = await memories.remember(store, user, "Cy's sister lives in Paris")
    script = model(
        extraction(candidate("Cy's brother lives in Paris")),
        decisions({"candidate": 0, "action": "add"}),
    )
    out = await run(store, user, script, conversation("My brother lives in Paris too."))

    assert [d["action"] for d in out["decisions"]] == ["add"]
    assert sister.key in script.received[1][0].content  # recall showed the sister
    contents = sorted(value["content"] for value in (await stored(store, user)).values())
    assert contents == ["Cy's brother lives in Paris", "Cy's sister lives in Paris"]


async def test_the_same_messages_again_change_nothing(store, unique):
    user = unique("di")
    said = conversation("I am vegetarian.", "Noted!")
    first = model(
        extraction(candidate("Di is vegetarian")), decisions({"candidate": 0, "action": "add"})
    )
    await run(store, user, first, said)
    before = await asearch_all(store, namespaces.user_root(user))

    # No reply scripted: the manager must not even ask the model.
    again = await run(store, user, model(), said)

    assert again["decisions"] == []
    assert again["read_up_to"] == "m2"
    (after,) = await asearch_all(store, namespaces.user_memories(user))
    assert [(i.key, i.value, i.updated_at) for i in after] == [
        (i.key, i.value, i.updated_at) for i in before[0] if i.namespace[-1] == "memories"
    ]

    # Only the new messages of the thread are read next time.
    more = [*said, *conversation("I also run marathons.", start=3)]
    later = model(
        extraction(candidate("Di runs marathons", "m3")),
        decisions({"candidate": 0, "action": "add"}),
    )
    out = await run(store, user, later, more)
    assert [d["content"] for d in out["decisions"]] == ["Di runs marathons"]
    transcript = later.received[0][0].content
    assert "[m3] human: I also run marathons." in transcript
    assert "vegetarian" not in transcript


async def test_a_script_invokes_the_manager_with_a_threads_messages(store, unique):
    user = unique("ed")
    thread_messages = [
        HumanMessage("I play the cello.", id="h1"),
        AIMessage("", id="a1", tool_calls=[{"name": "recall_memories", "args": {}, "id": "c"}]),
        ToolMessage("[]", tool_call_id="c", id="t1"),
        AIMessage("Lovely.", id="a2"),
    ]
    request = formation.formation_request(THREAD, thread_messages)
    assert request["messages"] == [
        {"id": "h1", "type": "human", "content": "I play the cello."},
        {"id": "a2", "type": "ai", "content": "Lovely."},
    ]
    script = model(
        extraction(candidate("Ed plays the cello", "h1")),
        decisions({"candidate": 0, "action": "add"}),
    )
    out = await run(store, user, script, thread_messages)
    assert [d["content"] for d in out["decisions"]] == ["Ed plays the cello"]
    assert out["read_up_to"] == "a2"


def invalid_json() -> AIMessage:
    return AIMessage(
        content="",
        invalid_tool_calls=[
            {
                "name": "Extraction",
                "args": '{"candidates": [',
                "id": "call_1",
                "error": "Unterminated JSON",
                "type": "invalid_tool_call",
            }
        ],
    )


async def assert_nothing_written(store, user: str) -> None:
    (items,) = await asearch_all(store, namespaces.user_root(user))
    assert items == []


async def test_invalid_json_is_rejected_with_nothing_written(store, unique):
    user = unique("fa")
    out = await run(store, user, model(invalid_json()), conversation("I like tea."))
    assert out["decisions"] == []
    (rejected,) = out["rejected"]
    assert rejected["field"] == "Extraction"
    assert "invalid JSON" in rejected["reason"]
    await assert_nothing_written(store, user)


async def test_an_unknown_memory_key_is_rejected_with_nothing_written(store, unique):
    user = unique("gu")
    script = model(
        extraction(
            candidate("Gu is Gu's name", kind="profile", field="name", value="Gu"),
            candidate("Gu likes tea"),
            candidate("Gu likes rain"),
        ),
        decisions(
            {"candidate": 1, "action": "add"},
            {"candidate": 2, "action": "update", "key": "mem-made-up"},
        ),
    )
    out = await run(store, user, script, conversation("I'm Gu. I like tea and rain."))
    (rejected,) = out["rejected"]
    assert rejected["field"] == "decisions[1].key"
    assert "mem-made-up" in rejected["reason"]
    await assert_nothing_written(store, user)  # not the profile field nor the valid add


async def test_a_missing_or_repeated_decision_is_rejected_with_nothing_written(store, unique):
    user = unique("gw")
    said = conversation("I like tea and rain.")
    two = extraction(candidate("Gw likes tea"), candidate("Gw likes rain"))
    missing = model(two, decisions({"candidate": 0, "action": "add"}))
    out = await run(store, user, missing, said)
    assert out["rejected"][0]["field"] == "decisions"
    assert "[1]" in out["rejected"][0]["reason"]
    twice = model(
        two,
        decisions(
            {"candidate": 0, "action": "add"},
            {"candidate": 0, "action": "add"},
            {"candidate": 1, "action": "add"},
        ),
    )
    out = await run(store, user, twice, said)
    assert out["rejected"][0]["field"] == "decisions[1].candidate"
    await assert_nothing_written(store, user)


async def test_a_memory_cannot_supersede_itself_nor_a_profile_field_lack_a_value(store, unique):
    user = unique("ib")
    tea = await memories.remember(store, user, "Ib likes tea")
    said = conversation("I like tea. My name is Ib.")
    itself = model(
        extraction(candidate("Ib likes tea.")),
        decisions({"candidate": 0, "action": "supersede", "key": tea.key}),
    )
    out = await run(store, user, itself, said)
    assert out["rejected"][0]["field"] == "decisions[0].action"
    no_value = model(extraction(candidate("Ib has a name", kind="profile", field="name")))
    out = await run(store, user, no_value, said)
    assert out["rejected"][0]["field"] == "candidates[0].value"
    (items,) = await asearch_all(store, namespaces.user_root(user))
    assert [(item.key, item.value["content"]) for item in items] == [(tea.key, "Ib likes tea")]


async def test_a_field_failing_validation_is_rejected_and_read_again_later(store, unique):
    user = unique("ha")
    said = conversation("My party is next Saturday.")
    bad = model(
        extraction(
            candidate("Ha likes parties"),
            candidate("Ha has a party", kind="event", occurred_at="next Saturday"),
        )
    )
    out = await run(store, user, bad, said)
    (rejected,) = out["rejected"]
    assert rejected["field"] == "Extraction"
    assert "occurred_at" in rejected["reason"]
    await assert_nothing_written(store, user)

    unknown_message = model(extraction(candidate("Ha has a party", "m9")))
    out = await run(store, user, unknown_message, said)
    assert out["rejected"][0]["field"] == "candidates[0].message_ids"
    await assert_nothing_written(store, user)

    # The cursor did not move: a later run reads the same messages and succeeds.
    good = model(
        extraction(candidate("Ha has a party", kind="event", occurred_at="2026-06-06")),
        decisions({"candidate": 0, "action": "add"}),
    )
    out = await run(store, user, good, said)
    assert out["rejected"] == []
    assert [value["occurred_at"] for value in (await stored(store, user)).values()] == [
        "2026-06-06"
    ]


def test_settings_and_thread_ids():
    assert formation.formation_settings({}) == formation.FormationSettings(True, 30)
    assert formation.formation_settings(
        {"MEMORY_FORMATION": "off", "MEMORY_FORMATION_DELAY_SECONDS": "5"}
    ) == formation.FormationSettings(False, 5)
    for bad in ({"MEMORY_FORMATION": "maybe"}, {"MEMORY_FORMATION_DELAY_SECONDS": "-1"}):
        try:
            formation.formation_settings(bad)
        except ValueError as error:
            assert next(iter(bad)) in str(error)
        else:
            raise AssertionError(f"{bad} was accepted")
    one = formation.manager_thread_id("ada", "t1")
    assert one == formation.manager_thread_id("ada", "t1")
    assert one != formation.manager_thread_id("bob", "t1")
    assert one != formation.manager_thread_id("ada", "t2")


async def test_bad_requests_are_refused_naming_the_field(store, unique):
    from casts.memory.core.errors import InvalidValueError, MissingIdentityError

    app = MemoryManagerGraph(model=model()).build(store=store)
    user = {"user_id": unique("io")}
    cases = [
        ({"action": "summarise"}, user, InvalidValueError, "action"),
        ({"action": "extract", "messages": []}, user, InvalidValueError, "thread_id"),
        (
            {"action": "extract", "thread_id": THREAD, "messages": [{"type": "human"}]},
            user,
            InvalidValueError,
            "messages[0].id",
        ),
        (
            {"action": "extract", "thread_id": THREAD, "messages": "hello"},
            user,
            InvalidValueError,
            "messages",
        ),
        ({"action": "extract", "thread_id": THREAD, "messages": []}, {}, MissingIdentityError, ""),
        ({"action": "forget_me"}, {}, MissingIdentityError, ""),
    ]
    for request, context, error, field in cases:
        try:
            await app.ainvoke(request, context=context)
        except error as raised:
            assert field in str(raised), (request, raised)
        else:
            raise AssertionError(f"{request} was accepted")
    await assert_nothing_written(store, user["user_id"])
