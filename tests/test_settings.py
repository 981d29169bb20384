"""Settings fail closed: each one is checked once, at start-up, and a bad one names itself.

The unit tests read settings from a dict, as ``Settings.from_env`` and the token loaders do.
The start-up tests run the real ``langgraph dev`` with one bad setting each and check that it
exits without ever serving, and that its log names the setting.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from casts.memory.auth.tokens import load_tokens, server_tokens
from casts.memory.core.errors import ConfigurationError, InvalidValueError
from casts.memory.core.values import validate_value
from casts.memory.settings import Settings, using
from casts.memory.store.embeddings import make_index_config
from tests import dev_server
from tests.dev_server import PROJECT, free_port

TOKENS = json.dumps({"a-token": {"user": "alice"}})
LOOPBACK_URL = {"LANGGRAPH_API_URL": "http://127.0.0.1:2025"}


# --- every setting is validated by Settings.from_env -----------------------------------------


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("MEMORY_MAX_VALUE_BYTES", "256kb"),
        ("MEMORY_MAX_VALUE_BYTES", "0"),
        ("MEMORY_POOL_MAX_SIZE", "0"),
        ("MEMORY_POOL_MIN_SIZE", "0"),
        ("MEMORY_CONNECT_TIMEOUT", "nan"),
        ("MEMORY_CONNECT_TIMEOUT", "-1"),
        ("MEMORY_TTL_SWEEP_MINUTES", "inf"),
        ("MEMORY_TTL_SWEEP_MINUTES", "0"),
        ("MEMORY_EMBEDDING_DIMS", "0"),
    ],
)
def test_a_malformed_or_out_of_range_setting_is_refused_naming_it(name: str, raw: str) -> None:
    with pytest.raises(ConfigurationError, match=f"{name}='?{raw}"):
        Settings.from_env({"MEMORY_BACKEND": "memory", name: raw})


def test_settings_read_the_value_limit_and_the_openai_model() -> None:
    settings = Settings.from_env(
        {
            "MEMORY_BACKEND": "memory",
            "MEMORY_MAX_VALUE_BYTES": "1024",
            "MEMORY_OPENAI_EMBEDDING_MODEL": "text-embedding-3-large",
        }
    )
    assert settings.max_value_bytes == 1024
    assert settings.openai_embedding_model == "text-embedding-3-large"


def test_a_write_reads_the_settings_of_the_process_not_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Settings are read once: changing the environment later changes nothing (nor fails)."""
    with using(Settings.from_env({"MEMORY_BACKEND": "memory", "MEMORY_MAX_VALUE_BYTES": "100"})):
        monkeypatch.setenv("MEMORY_MAX_VALUE_BYTES", "256kb")
        with pytest.raises(InvalidValueError, match="at most 100"):
            validate_value({"text": "x" * 200})
        assert validate_value({"text": "short"}) == {"text": "short"}


# --- auth settings: present means configured ------------------------------------------------


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MEMORY_AUTH_TOKENS": "{}"}, "MEMORY_AUTH_TOKENS holds no tokens"),
        ({"MEMORY_AUTH_TOKENS": "  \n "}, "MEMORY_AUTH_TOKENS is set but empty"),
        ({"MEMORY_AUTH_TOKENS": ""}, "MEMORY_AUTH_TOKENS is set but empty"),
        ({"MEMORY_AUTH_FILE": ""}, "MEMORY_AUTH_FILE is set but empty"),
        ({"MEMORY_AUTH_TOKENS": "", "MEMORY_AUTH_FILE": "tokens.json"}, "not both"),
    ],
)
def test_an_empty_auth_setting_is_refused_naming_it(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        load_tokens(Settings.from_env(env))


def test_a_token_file_without_tokens_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text("{}")
    with pytest.raises(ConfigurationError, match=r"MEMORY_AUTH_FILE \(.*tokens.json\) holds no"):
        load_tokens(Settings.from_env({"MEMORY_AUTH_FILE": str(path)}))


def test_no_auth_is_served_on_loopback_only() -> None:
    for url in ("http://127.0.0.1:2025", "http://localhost:2025", "http://[::1]:2025"):
        assert not server_tokens(Settings.from_env({"LANGGRAPH_API_URL": url})).enabled
    refused = [
        ({"LANGGRAPH_API_URL": "http://0.0.0.0:2025"}, "listens on 0.0.0.0"),
        ({"LANGGRAPH_API_URL": "http://192.168.1.5:2025"}, "listens on 192.168.1.5"),
        ({"LANGGRAPH_API_URL": "https://abc.trycloudflare.com"}, "listens on abc.trycloudflare"),
        ({}, "does not say where it listens"),
    ]
    for env, named in refused:
        with pytest.raises(ConfigurationError, match=f"{named}.*MEMORY_ALLOW_OPEN_NETWORK=true"):
            server_tokens(Settings.from_env(env))
    # With tokens any address is fine.
    assert server_tokens(
        Settings.from_env(
            {"LANGGRAPH_API_URL": "http://0.0.0.0:2025", "MEMORY_AUTH_TOKENS": TOKENS}
        )
    )


def test_only_an_explicit_yes_allows_no_auth_off_loopback() -> None:
    url = {"LANGGRAPH_API_URL": "http://0.0.0.0:2025"}
    for yes in ("true", "1", "YES"):
        assert not server_tokens(
            Settings.from_env({**url, "MEMORY_ALLOW_OPEN_NETWORK": yes})
        ).enabled
    for no in ("false", "0", ""):
        with pytest.raises(ConfigurationError, match=r"listens on 0\.0\.0\.0"):
            server_tokens(Settings.from_env({**url, "MEMORY_ALLOW_OPEN_NETWORK": no}))
    with pytest.raises(ConfigurationError, match="MEMORY_ALLOW_OPEN_NETWORK='sure'"):
        server_tokens(Settings.from_env({**url, "MEMORY_ALLOW_OPEN_NETWORK": "sure"}))


# --- OpenAI embeddings: the index declares what the model returns ---------------------------


def openai_index(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict:
    settings = Settings.from_env(
        {
            "MEMORY_BACKEND": "memory",
            "MEMORY_EMBEDDINGS": "openai",
            "OPENAI_API_KEY": "sk-test-never-sent",  # the client is only built
            **env,
        }
    )
    index = make_index_config(settings)
    assert index is not None
    return index


OPENAI_CASES: list[tuple[dict[str, str], str, int, int | None]] = [
    # settings, the model called, the index's dims, the ``dimensions`` sent (None: native)
    ({}, "text-embedding-3-small", 1536, None),
    (
        {"MEMORY_OPENAI_EMBEDDING_MODEL": "text-embedding-3-large"},
        "text-embedding-3-large",
        3072,
        None,
    ),
    (
        {"MEMORY_OPENAI_EMBEDDING_MODEL": "text-embedding-3-large", "MEMORY_EMBEDDING_DIMS": "256"},
        "text-embedding-3-large",
        256,
        256,
    ),
    ({"MEMORY_EMBEDDING_DIMS": "512"}, "text-embedding-3-small", 512, 512),
    (
        {"MEMORY_OPENAI_EMBEDDING_MODEL": "text-embedding-ada-002"},
        "text-embedding-ada-002",
        1536,
        None,
    ),
    (
        {"MEMORY_OPENAI_EMBEDDING_MODEL": "my-served-model", "MEMORY_EMBEDDING_DIMS": "768"},
        "my-served-model",
        768,
        None,
    ),
]


def test_openai_index_dimensions_match_the_model_and_reach_the_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each case's index dims and the ``dimensions`` the OpenAI client will send."""
    built = [
        (env, index["embed"].model, index["dims"], index["embed"].dimensions)
        for env, *_ in OPENAI_CASES
        for index in [openai_index(monkeypatch, **env)]
    ]
    assert built == OPENAI_CASES


@pytest.mark.parametrize(
    ("env", "named"),
    [
        (
            {
                "MEMORY_OPENAI_EMBEDDING_MODEL": "text-embedding-ada-002",
                "MEMORY_EMBEDDING_DIMS": "256",
            },
            "MEMORY_EMBEDDING_DIMS=256.*text-embedding-ada-002 returns 1536",
        ),
        ({"MEMORY_EMBEDDING_DIMS": "2000"}, "MEMORY_EMBEDDING_DIMS=2000 is more than the 1536"),
        ({"MEMORY_OPENAI_EMBEDDING_MODEL": "my-served-model"}, "set MEMORY_EMBEDDING_DIMS"),
    ],
)
def test_openai_dimensions_the_model_cannot_give_are_refused(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigurationError, match=named):
        openai_index(monkeypatch, **env)


# --- a real `langgraph dev` refuses to start ------------------------------------------------

REFUSAL_TIMEOUT_S = 120  # a server that starts instead never exits: the test fails here


def refused_start(
    env: dict[str, str], tmp_path: Path, *, host: str = "127.0.0.1", config=None
) -> str:
    """Run `langgraph dev` until it exits; fail if it is still running (serving). Its log."""
    config = config or dev_server.test_config(tmp_path)
    log_path = tmp_path / "langgraph-dev.log"
    process = dev_server.start_dev_server(
        config,
        {"MEMORY_BACKEND": "memory", **env},
        cwd=PROJECT,
        log_path=log_path,
        port=free_port(),
        host=host,
    )
    try:
        process.wait(timeout=REFUSAL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        raise AssertionError(f"langgraph dev started:\n{log_path.read_text()[-3000:]}") from None
    finally:
        config.unlink(missing_ok=True)
    assert process.returncode != 0
    return log_path.read_text()


@pytest.mark.server
@pytest.mark.slow
@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MEMORY_AUTH_TOKENS": "{}"}, "MEMORY_AUTH_TOKENS holds no tokens"),
        ({"MEMORY_AUTH_TOKENS": "   "}, "MEMORY_AUTH_TOKENS is set but empty"),
        ({"MEMORY_MAX_VALUE_BYTES": "256kb"}, "MEMORY_MAX_VALUE_BYTES='256kb'"),
    ],
)
def test_the_server_refuses_to_start_with_a_bad_setting(
    env: dict[str, str], named: str, tmp_path: Path
) -> None:
    assert named in refused_start(env, tmp_path)


@pytest.mark.server
@pytest.mark.slow
def test_the_server_refuses_a_token_file_without_tokens(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text("{}")
    log = refused_start({"MEMORY_AUTH_FILE": str(path)}, tmp_path)
    assert "MEMORY_AUTH_FILE" in log and "holds no tokens" in log


@pytest.mark.server
@pytest.mark.slow
def test_an_empty_dotenv_line_does_not_turn_auth_off(tmp_path: Path) -> None:
    """The process has tokens; `.env` (which langgraph dev lets override them) empties them."""
    dotenv = tmp_path / ".env"
    dotenv.write_text("MEMORY_AUTH_TOKENS=\n")
    config = json.loads((PROJECT / "langgraph.json").read_text())
    config["env"] = str(dotenv)
    config_path = PROJECT / f".langgraph.test-{tmp_path.name}.json"
    config_path.write_text(json.dumps(config))
    log = refused_start({"MEMORY_AUTH_TOKENS": TOKENS}, tmp_path, config=config_path)
    assert "MEMORY_AUTH_TOKENS is set but empty" in log


@pytest.mark.server
@pytest.mark.slow
def test_the_server_refuses_a_network_address_without_auth(tmp_path: Path) -> None:
    log = refused_start({}, tmp_path, host="0.0.0.0")
    assert "listens on 0.0.0.0" in log and "MEMORY_ALLOW_OPEN_NETWORK=true" in log
