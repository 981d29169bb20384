"""Unit rules of the memory layer: namespaces, values, records, identity, settings."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casts.memory import namespaces
from casts.memory.core.errors import (
    ConfigurationError,
    IdentityMismatchError,
    InvalidNamespaceError,
    InvalidValueError,
    MissingIdentityError,
)
from casts.memory.core.identity import resolve_identity
from casts.memory.core.namespaces import normalize_text, text_key
from casts.memory.core.records import Fact, Memory, parse_record
from casts.memory.core.values import validate_key, validate_value
from casts.memory.settings import Settings, using

# --- namespaces ------------------------------------------------------------------------


@given(st.text(min_size=1, max_size=60).filter(lambda s: s.strip() and "\x00" not in s))
def test_id_encoding_round_trips_and_has_no_dots(raw):
    label = namespaces.encode_id(raw)
    assert "." not in label
    assert namespaces.decode_id(label) == raw


@given(
    st.text(min_size=1, max_size=60).filter(lambda s: s.strip() and "\x00" not in s),
    st.text(min_size=1, max_size=60).filter(lambda s: s.strip() and "\x00" not in s),
)
def test_distinct_ids_never_collide(a, b):
    if a != b:
        assert namespaces.encode_id(a) != namespaces.encode_id(b)


def test_email_like_ids_are_encoded_not_rejected():
    ns = namespaces.user_memories("ada.lovelace@example.com")
    assert ns == ("user", "ada%2Elovelace@example%2Ecom", "memories")
    assert namespaces.owner_of(ns) == namespaces.Owner("user", "ada.lovelace@example.com")
    # "%2E" typed literally must not decode to the same user as "."
    assert namespaces.user_root("a%2Eb") != namespaces.user_root("a.b")


def test_every_scope_has_its_own_root():
    user, team = "u.1", "t.1"
    roots = {
        namespaces.user_profile(user)[0],
        namespaces.team_workspace(team)[0],
        namespaces.global_knowledge("paris")[0],
        namespaces.session_scratch(user, "s.1")[0],
    }
    assert roots == {"user", "team", "global", "session"}
    assert namespaces.owner_of(namespaces.team_members(team)) == namespaces.Owner("team", team)
    assert namespaces.owner_of(namespaces.global_knowledge("x")).kind == "global"


@pytest.mark.parametrize("bad", ["", "   ", "a\x00b", "x" * 300])
def test_bad_ids_raise(bad):
    with pytest.raises(InvalidNamespaceError):
        namespaces.user_root(bad)


def test_non_string_id_raises():
    with pytest.raises(InvalidNamespaceError, match="user_id must be a string"):
        namespaces.user_root(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "namespace, message",
    [
        ((), "must not be empty"),
        (("user", ""), r"namespace\[1\] must not be empty"),
        (("user", "a.b"), r"namespace\[1\] 'a.b' contains '.'"),
        (("langgraph", "x"), "reserved"),
        (("user", 3), r"namespace\[1\] must be a string"),
        ("user", "must be a tuple"),
        (tuple("abcdefghij"), "deeper"),
    ],
)
def test_invalid_namespaces_name_the_label(namespace, message):
    with pytest.raises(InvalidNamespaceError, match=message):
        namespaces.validate_namespace(namespace)


def test_owner_of_refuses_foreign_roots():
    with pytest.raises(InvalidNamespaceError, match="must start with one of"):
        namespaces.owner_of(("documents", "x"))


# --- values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, field",
    [
        ([1, 2], "value"),
        ("text", "value"),
        ({"a": float("nan")}, "value.a"),
        ({"a": float("inf")}, "value.a"),
        ({"a": [1, {"b": "x\x00y"}]}, "value.a[1].b"),
        ({"a": {1: "non-string key"}}, "value.a"),
        ({"when": __import__("datetime").datetime(2024, 1, 1)}, "value.when"),
        ({"s": {1, 2}}, "value.s"),
        ({"t": (1, 2)}, "value.t"),
        ({"b": b"bytes"}, "value.b"),
    ],
)
def test_bad_values_name_the_field(value, field):
    with pytest.raises(InvalidValueError) as caught:
        validate_value(value)
    assert caught.value.field == field


def test_value_size_is_bounded():
    with using(Settings.from_env({"MEMORY_BACKEND": "memory", "MEMORY_MAX_VALUE_BYTES": "100"})):
        with pytest.raises(InvalidValueError, match="at most 100"):
            validate_value({"text": "x" * 200})
        assert validate_value({"text": "short"}) == {"text": "short"}


def test_deep_nesting_is_refused():
    value: dict = {}
    node = value
    for _ in range(40):
        node["n"] = {}
        node = node["n"]
    with pytest.raises(InvalidValueError, match="deeper"):
        validate_value(value)


@pytest.mark.parametrize("key", ["", "a\x00", "k" * 257, 5])
def test_bad_keys(key):
    with pytest.raises(InvalidValueError, match="key"):
        validate_key(key)


# --- text keys -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "said, again",
    [
        ("Ada lives in Paris", "  ada LIVES\tin   paris! "),
        ("Deploys run on Fridays", "deploys run on fridays..."),
        ("Is it raining", "is it raining?"),
    ],
)
def test_restatements_share_a_key(said, again):
    assert text_key("k-", said) == text_key("k-", again)


@pytest.mark.parametrize(
    "one, other",
    [
        ("Temperature is -5 degrees", "Temperature is 5 degrees"),
        ("Written in C++", "Written in C"),
        ("The fee is 5%", "The fee is 5"),
        ("O'Brien's cafe", "OBriens cafe"),
        ("Version 1.2", "Version 12"),
        ("Not now. Later", "Not now Later"),
    ],
)
def test_every_symbol_but_the_final_punctuation_counts(one, other):
    assert text_key("k-", one) != text_key("k-", other)


def test_normalizing_keeps_symbols_and_drops_only_trailing_punctuation():
    assert normalize_text("  It is -5 °C;  in C++ land!?. ") == "it is -5 °c; in c++ land"
    assert normalize_text("?!.") == ""


# --- records ---------------------------------------------------------------------------


def test_records_name_the_bad_field():
    with pytest.raises(InvalidValueError) as caught:
        parse_record(Memory, {"content": "x", "confidence": 7})
    assert caught.value.field == "value.confidence"
    with pytest.raises(InvalidValueError) as caught:
        parse_record(Fact, {"content": "x", "topic": "t", "confidence": 0.5})
    assert caught.value.field == "value.source"
    assert "required" in caught.value.reason
    with pytest.raises(InvalidValueError) as caught:
        parse_record(
            Fact, {"content": "x", "topic": "t", "source": "s", "confidence": 0.5, "oops": 1}
        )
    assert caught.value.field == "value.oops"


def test_record_round_trip_is_json():
    memory = parse_record(Memory, {"content": "likes tea", "confidence": 0.9})
    value = memory.to_value()
    assert value["content"] == "likes tea"
    assert value["created_at"].endswith("+00:00")


# --- identity --------------------------------------------------------------------------


@dataclass
class User:
    identity: str
    is_authenticated: bool = True


def fake_runtime(context=None, user=None):
    server_info = SimpleNamespace(user=user) if user else None
    return SimpleNamespace(context=context, server_info=server_info)


def test_context_gives_the_user():
    identity = resolve_identity(fake_runtime({"user_id": "ada", "team_id": "t"}), config={})
    assert (identity.user_id, identity.team_id, identity.authenticated) == ("ada", "t", False)


def test_configurable_is_the_fallback_and_thread_is_the_session():
    config = {"configurable": {"user_id": "old-client", "thread_id": "th-1"}}
    identity = resolve_identity(fake_runtime(None), config=config)
    assert identity.user_id == "old-client"
    assert identity.require_session() == "th-1"


def test_authenticated_user_wins():
    identity = resolve_identity(fake_runtime(None, User("auth-user")), config={})
    assert identity.user_id == "auth-user"
    assert identity.authenticated


def test_unauthenticated_server_user_is_ignored():
    anonymous = User("", is_authenticated=False)
    identity = resolve_identity(fake_runtime({"user_id": "ada"}, anonymous), config={})
    assert identity.user_id == "ada"
    assert not identity.authenticated


def test_client_claiming_another_user_is_refused():
    with pytest.raises(IdentityMismatchError, match="authenticated as 'alice'"):
        resolve_identity(fake_runtime({"user_id": "mallory"}, User("alice")), config={})


def test_no_user_means_a_clear_error_not_a_default():
    identity = resolve_identity(fake_runtime(None), config={})
    assert identity.user_id is None
    with pytest.raises(MissingIdentityError, match="user_id"):
        identity.require_user()
    with pytest.raises(MissingIdentityError, match="team_id"):
        identity.require_team()


# --- settings --------------------------------------------------------------------------


def test_backend_choice():
    assert Settings.from_env({}).backend == "embedded"
    assert Settings.from_env({"POSTGRES_URI": "postgresql://x"}).backend == "postgres"
    assert (
        Settings.from_env({"POSTGRES_URI": "postgresql://x", "MEMORY_BACKEND": "memory"}).backend
        == "memory"
    )
    with pytest.raises(ConfigurationError, match="needs POSTGRES_URI"):
        Settings.from_env({"MEMORY_BACKEND": "postgres"})
    with pytest.raises(ConfigurationError, match="MEMORY_BACKEND='sqlite'"):
        Settings.from_env({"MEMORY_BACKEND": "sqlite"})
    with pytest.raises(ConfigurationError, match="MEMORY_POOL_MAX_SIZE"):
        Settings.from_env({"MEMORY_POOL_MAX_SIZE": "many"})
