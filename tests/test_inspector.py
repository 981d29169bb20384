"""The memory inspector page in a real browser (Debian's headless chromium through
Playwright) against a real `langgraph dev` on PostgreSQL: it shows every kind of memory,
searches with the reasons of each hit, edits and forgets a memory, forgets a user, and the
store (read through the SDK, not the page) shows each change. Under auth one user can
neither see nor change another's memory, through the page or its routes. Screenshots of
each main view go to tests/artifacts/ (git-ignored)."""

from __future__ import annotations

import json
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_client
from playwright.async_api import Browser, Page, async_playwright, expect

from casts.memory import knowledge, memories, namespaces, profiles, scratch, workspace
from casts.memory.core.records import Provenance
from casts.memory.recall.fusion import DEFAULT_LEXICAL_WEIGHT
from casts.memory.recall.search import explain, recall
from casts.memory.store.persistence import open_store
from tests.conftest import TEST_EMBEDDINGS, settings_for
from tests.dev_server import running_dev_server

pytestmark = [pytest.mark.server, pytest.mark.slow, pytest.mark.postgres]

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps calling home, which a closed
# network answers with nothing but timeouts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
BROWSER_TIMEOUT_MS = 20_000  # a loaded CI machine: waiting is free when the page is quick
expect.set_options(timeout=BROWSER_TIMEOUT_MS)
RUN = uuid.uuid4().hex[:8]
ALICE, BOB, CAROL = (f"{name}.{RUN}@example.com" for name in ("alice", "bob", "carol"))
TEAM = f"crew.{RUN}"
ALICE_TOKEN, BOB_TOKEN = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
SISTER = "Alice's sister lives in Paris"
BROTHER = "Alice's brother plays chess"  # the one memory the edit test changes
PEANUTS = "Alice is allergic to peanuts"
OLD_JOB, NEW_JOB = "Alice works at Acme", "Alice works at Globex"
BOB_SECRET = "Bob keeps his spare key under the blue flowerpot"


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(BROWSER_TIMEOUT_MS)
    opened = await context.new_page()
    yield opened
    await context.close()


async def shoot(page: Page, name: str, *, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"inspector-{name}.png"), full_page=full_page)


def server_env(uri: str, **env: str) -> dict[str, str]:
    return {
        "MEMORY_BACKEND": "postgres",
        "POSTGRES_URI": uri,
        "OPENAI_API_KEY": "",
        **TEST_EMBEDDINGS,
        **env,
    }


async def seed(uri: str, tmp: Path) -> None:
    """Alice has something of every kind; Bob one memory; Carol a little of everything."""
    async with open_store(settings_for("postgres", uri, tmp)) as store:
        change = profiles.plan_profile_change(
            ALICE, fields={"name": "Alice Liddell"}, preferences={"theme": "dark"}
        )
        await profiles.apply_profile_change(store, change)
        told = Provenance(thread_id="thread-7", message_ids=["m1"], model="scripted")
        await memories.remember(store, ALICE, SISTER, source="thread-7", provenance=told)
        await memories.remember(store, ALICE, BROTHER, source="thread-7", provenance=told)
        await memories.remember(store, ALICE, PEANUTS, kind="fact", confidence=0.9)
        await memories.remember(store, ALICE, OLD_JOB)
        await memories.supersede(store, ALICE, memories.memory_key(OLD_JOB), NEW_JOB)
        first = await knowledge.add_facts(
            store,
            ALICE,
            "travel",
            [{"content": "The Paris office opens at 9", "source": "wiki", "confidence": 0.8}],
        )
        await knowledge.add_facts(
            store,
            ALICE,
            "travel",
            [
                {
                    "content": "The Paris office opens at 10",
                    "source": "handbook 2026",
                    "confidence": 0.95,
                    "supersedes": first.facts[0].key,
                }
            ],
        )
        await scratch.write_scratch(store, ALICE, "session-1", {"draft": {"step": 2}})
        await workspace.create_team(store, TEAM, ALICE)
        await workspace.write_workspace(store, TEAM, ALICE, {"status": {"phase": "beta"}})
        await memories.remember(store, BOB, BOB_SECRET)
        await memories.remember(store, CAROL, "Carol plays the cello")
        await scratch.write_scratch(store, CAROL, "session-9", {"note": {"a": 1}})


@pytest.fixture(scope="module")
def open_server(
    tmp_path_factory: pytest.TempPathFactory, database_factory: Callable[[], str]
) -> Iterator[tuple[str, str]]:
    """A `langgraph dev` without auth, and its database."""
    uri = database_factory()
    with running_dev_server(server_env(uri), tmp_path_factory.mktemp("inspector")) as url:
        yield url, uri


@pytest.fixture(scope="module")
async def open_url(open_server, tmp_path_factory) -> str:
    url, uri = open_server
    await seed(uri, tmp_path_factory.mktemp("seed"))
    return url


@pytest.fixture(scope="module")
def auth_server(
    tmp_path_factory: pytest.TempPathFactory, database_factory: Callable[[], str]
) -> Iterator[tuple[str, str]]:
    """A `langgraph dev` with auth: Alice (team crew) and Bob."""
    uri = database_factory()
    tokens = {ALICE_TOKEN: {"user": ALICE, "teams": [TEAM]}, BOB_TOKEN: {"user": BOB}}
    env = server_env(uri, MEMORY_AUTH_TOKENS=json.dumps(tokens))
    with running_dev_server(env, tmp_path_factory.mktemp("inspector-auth")) as url:
        yield url, uri


@pytest.fixture(scope="module")
async def auth_url(auth_server, tmp_path_factory) -> str:
    url, uri = auth_server
    await seed(uri, tmp_path_factory.mktemp("seed-auth"))
    return url


def sdk(url: str, token: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return get_client(url=url, api_key=None, headers=headers)


async def stored_memories(url: str, user: str, token: str | None = None) -> dict[str, dict]:
    items = await sdk(url, token).store.search_items(
        list(namespaces.user_memories(user)), limit=100
    )
    return {item["key"]: item["value"] for item in items["items"]}


async def open_user(page: Page, url: str, user: str) -> None:
    await page.goto(f"{url}/memory")
    await page.get_by_label("User id", exact=True).fill(user)
    await page.get_by_role("button", name="Show memory").click()
    await expect(page.locator("#status")).to_contain_text(f"Showing the memory of {user}.")
    await expect(page.locator("#memory-table")).to_be_visible()


# --- why a hit ranked (no server) ------------------------------------------------------


async def test_explain_gives_recalls_ranking_split_into_its_two_parts(store, unique):
    user = unique("ada")
    for content in (
        "Ada's brother lives in Rome",
        "Ada plays chess on Sundays",
        "Rome is Ada's favourite city",
        "Ada's sister moved to Oslo",
    ):
        await memories.remember(store, user, content)
    namespace = namespaces.user_memories(user)

    explained = await explain(store, namespace, "where does her brother live", limit=3)
    recalled = await recall(store, namespace, "where does her brother live", limit=3)

    assert [hit.item.key for hit in explained] == [item.key for item in recalled]
    assert explained[0].item.value["content"] == "Ada's brother lives in Rome"
    assert explained[0].lexical > 0 and explained[0].bm25 is not None
    for hit, item in zip(explained, recalled, strict=True):
        assert hit.lexical + hit.semantic == pytest.approx(item.score)
        assert 0 <= hit.lexical <= DEFAULT_LEXICAL_WEIGHT
        assert 0 <= hit.semantic <= 1 - DEFAULT_LEXICAL_WEIGHT
    assert await explain(store, namespace, "   ") == []


# --- auth off ---------------------------------------------------------------------------


async def test_page_shows_every_kind_of_memory_with_history_and_provenance(page, open_url):
    await open_user(page, open_url, ALICE)

    memories_box = page.locator("#memories")
    await expect(memories_box).to_contain_text(SISTER)
    await expect(memories_box).to_contain_text("source: thread-7")
    await expect(memories_box).to_contain_text("thread thread-7 · scripted")
    old = memories_box.locator("tr.superseded")
    await expect(old).to_have_count(1)
    await expect(old).to_contain_text(OLD_JOB)
    await expect(old).to_contain_text(f"superseded by {memories.memory_key(NEW_JOB)}")
    await expect(page.locator("#profile")).to_contain_text("Alice Liddell")
    await expect(page.locator("#preferences")).to_contain_text("dark")
    facts = page.locator("#knowledge")
    await expect(facts.locator("tr.superseded")).to_contain_text("The Paris office opens at 9")
    await expect(facts).to_contain_text("handbook 2026")
    await expect(facts).to_contain_text("supersedes fact-")
    await expect(page.locator("#scratch")).to_contain_text("session-1")
    await expect(page.locator("#scratch")).to_contain_text('"step":2')
    await expect(page.locator("#teams")).to_contain_text(f"{ALICE} (owner)")
    await expect(page.locator("#teams")).to_contain_text('"phase":"beta"')
    await shoot(page, "overview")


async def test_search_shows_why_each_hit_ranked(page, open_url):
    await open_user(page, open_url, ALICE)
    await page.get_by_label("Query").fill("where does her sister live")
    await page.get_by_label("Query").press("Enter")  # the keyboard submits the form

    hits = page.locator("table.hits[data-kind=memories] tbody tr")
    await expect(hits.first).to_contain_text(SISTER)
    why = hits.first.locator("td").nth(4)
    lexical = float(await why.locator(".lexical").inner_text())
    semantic = float(await why.locator(".semantic").inner_text())
    score = float(await hits.first.locator("td").nth(3).inner_text())
    assert lexical > 0  # "sister" and "live" are words of the memory
    assert abs(lexical + semantic - score) < 2e-3
    await expect(page.locator("table.hits[data-kind=knowledge]")).to_be_visible()
    await shoot(page, "search")
    box = await page.locator("#search").bounding_box()
    assert box is not None
    ARTIFACTS.mkdir(exist_ok=True)  # the top of the page down to the hits: docs/inspector.png
    await page.screenshot(
        path=str(ARTIFACTS / "inspector-search-top.png"),
        clip={"x": 0, "y": 0, "width": 1280, "height": box["y"] + box["height"] + 16},
    )


async def test_edit_validates_like_the_tools_then_writes_to_the_store(page, open_url):
    before = await stored_memories(open_url, ALICE)
    key = memories.memory_key(BROTHER)
    assert before[key]["content"] == BROTHER
    await open_user(page, open_url, ALICE)
    edit = page.get_by_role("button", name=f"Edit memory: {BROTHER}")
    await edit.focus()
    await page.keyboard.press("Enter")
    dialog = page.locator("#edit-dialog")
    await expect(dialog).to_be_visible()
    await expect(page.get_by_label("Content")).to_be_focused()

    await page.get_by_label("Confidence (0 to 1)").fill("5")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#edit-confidence-error")).to_contain_text("memory.confidence")
    await expect(page.get_by_label("Confidence (0 to 1)")).to_have_attribute("aria-invalid", "true")
    await shoot(page, "edit-error", full_page=False)  # a modal covers the viewport
    assert await stored_memories(open_url, ALICE) == before  # nothing half written

    await page.get_by_label("Content").fill("")
    await page.get_by_label("Confidence (0 to 1)").fill("0.7")
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#edit-content-error")).to_contain_text("memory.content")
    assert await stored_memories(open_url, ALICE) == before

    await page.get_by_label("Content").fill("Alice's brother plays go")
    await page.get_by_role("button", name="Save").click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#memories")).to_contain_text("Alice's brother plays go")

    after = await stored_memories(open_url, ALICE)
    assert key not in after
    edited = after[memories.memory_key("Alice's brother plays go")]
    assert edited["content"] == "Alice's brother plays go"
    assert edited["confidence"] == 0.7
    assert edited["created_at"] == before[key]["created_at"]
    assert edited["provenance"] == before[key]["provenance"]


async def test_forget_asks_first_then_deletes_from_the_store(page, open_url):
    key = memories.memory_key(PEANUTS)
    assert key in await stored_memories(open_url, ALICE)
    await open_user(page, open_url, ALICE)
    await page.get_by_role("button", name=f"Forget memory: {PEANUTS}").click()
    dialog = page.locator("#forget-dialog")
    await expect(dialog).to_be_visible()
    await shoot(page, "forget-confirm", full_page=False)
    await page.keyboard.press("Escape")  # cancelling keeps it
    await expect(dialog).to_be_hidden()
    assert key in await stored_memories(open_url, ALICE)

    await page.get_by_role("button", name=f"Forget memory: {PEANUTS}").click()
    await page.locator("#forget-confirm").click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#memories")).not_to_contain_text(PEANUTS)
    assert key not in await stored_memories(open_url, ALICE)
    assert memories.memory_key(NEW_JOB) in await stored_memories(open_url, ALICE)


async def test_forget_everything_needs_the_user_id_typed(page, open_url):
    await open_user(page, open_url, CAROL)
    await page.get_by_role("button", name="Forget everything about this user…").click()
    confirm = page.get_by_label("Type the user id")
    await confirm.fill("carol")
    await page.get_by_role("button", name="Forget everything", exact=True).click()
    await expect(page.locator("#forget-all-error")).to_contain_text("confirm")
    assert await stored_memories(open_url, CAROL) != {}

    await confirm.fill(CAROL)
    await page.get_by_role("button", name="Forget everything", exact=True).click()
    await expect(page.locator("#status")).to_contain_text(f"Forgot everything about {CAROL}")
    await expect(page.locator("#memories")).to_contain_text("No memories.")
    client = sdk(open_url)
    for root in (namespaces.user_root(CAROL), namespaces.user_sessions(CAROL)):
        assert (await client.store.search_items(list(root), limit=10))["items"] == []
    assert await stored_memories(open_url, ALICE) != {}  # nobody else's


async def test_bad_input_to_the_routes_is_a_4xx_naming_the_field(open_url):
    async with httpx.AsyncClient(base_url=f"{open_url}/memory/api") as http:
        user = f"/users/{ALICE}"
        empty = await http.get(f"{user}/search", params={"q": " "})
        assert (empty.status_code, empty.json()["field"]) == (422, "query")
        limit = await http.get(f"{user}/search", params={"q": "x", "limit": "lots"})
        assert (limit.status_code, limit.json()["field"]) == (422, "limit")
        body = await http.put(f"{user}/memories/mem-x", content=b"not json")
        assert (body.status_code, body.json()["field"]) == (422, "body")
        missing = await http.put(f"{user}/memories/mem-nope", json={"content": "x"})
        assert (missing.status_code, missing.json()["field"]) == (422, "key")
        gone = await http.delete(f"{user}/memories/mem-nope")
        assert gone.status_code == 404
        kind = await http.put(
            f"{user}/memories/{memories.memory_key(NEW_JOB)}", json={"content": "x", "kind": "?"}
        )
        assert (kind.status_code, kind.json()["field"]) == (422, "memory.kind")
    assert (await stored_memories(open_url, ALICE))[memories.memory_key(NEW_JOB)][
        "content"
    ] == NEW_JOB


# --- auth on ----------------------------------------------------------------------------


async def test_under_auth_the_page_signs_in_and_shows_only_your_memory(page, auth_url):
    await page.goto(f"{auth_url}/memory")  # the page itself needs no token: it holds no data
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await shoot(page, "sign-in")
    await page.get_by_label("Token").fill("not-a-token")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#signin-error")).to_contain_text("Unknown token")

    await page.get_by_label("Token").fill(ALICE_TOKEN)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#who")).to_contain_text(f"Signed in as {ALICE}")
    await expect(page.locator("#memories")).to_contain_text(SISTER)
    await expect(page.locator("#teams")).to_contain_text('"phase":"beta"')

    await page.get_by_label("User id", exact=True).fill(BOB)
    await page.get_by_role("button", name="Show memory").click()
    await expect(page.locator("#user-error")).to_contain_text("403")
    await expect(page.locator("body")).not_to_contain_text(BOB_SECRET)
    assert await page.locator("#users option").evaluate_all(
        "options => options.map(o => o.value)"
    ) == [ALICE]


async def test_under_auth_the_routes_refuse_another_users_memory(auth_url):
    bob_key = memories.memory_key(BOB_SECRET)
    bob = f"/users/{BOB}"
    as_alice = {"Authorization": f"Bearer {ALICE_TOKEN}"}
    async with httpx.AsyncClient(base_url=f"{auth_url}/memory/api") as http:
        assert (await http.get(f"/users/{ALICE}")).status_code == 401
        assert (await http.get("/session")).status_code == 401
        refused = [
            await http.get(bob, headers=as_alice),
            await http.get(f"{bob}/search", params={"q": "flowerpot"}, headers=as_alice),
            await http.put(f"{bob}/memories/{bob_key}", json={"content": "x"}, headers=as_alice),
            await http.delete(f"{bob}/memories/{bob_key}", headers=as_alice),
            await http.post(f"{bob}/forget", json={"confirm": BOB}, headers=as_alice),
        ]
        assert [response.status_code for response in refused] == [403] * 5
        assert not any(BOB_SECRET in response.text for response in refused)
        users = await http.get("/users", headers=as_alice)
        assert users.json() == {"users": [ALICE]}
        own = await http.get(f"/users/{ALICE}", headers=as_alice)
        assert own.status_code == 200 and SISTER in own.text
        page = await http.get(f"{auth_url}/memory")
        assert page.status_code == 200 and SISTER not in page.text
    assert (await stored_memories(auth_url, BOB, BOB_TOKEN))[bob_key]["content"] == BOB_SECRET
