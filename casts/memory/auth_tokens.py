"""Who a bearer token belongs to: the token table the server's auth handler checks.

Tokens come from the environment, so a deployment configures users without code:

- ``MEMORY_AUTH_TOKENS``: JSON ``{"<token>": {"user": "alice", "teams": ["t1"]}, ...}``;
- ``MEMORY_AUTH_FILE``: the path of a file holding the same JSON (keeps tokens out of the
  process list and of ``.env``).

Setting neither means "no auth": the server lets every request through, as the unauthenticated
dev server always did. Setting both is refused, so nobody wonders which one wins. A malformed
table fails the server at start-up with a message naming the entry, never later per request.

Tokens are kept only as SHA-256 digests: a lookup hashes the presented token, so the time a
lookup takes does not depend on how much of a real token the caller guessed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from casts.memory.errors import ConfigurationError

TOKENS_ENV = "MEMORY_AUTH_TOKENS"
FILE_ENV = "MEMORY_AUTH_FILE"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    Attributes:
        user_id: The user every request with this token acts as.
        teams: The teams whose namespaces the user may reach through the HTTP store API.
    """

    user_id: str
    teams: frozenset[str] = frozenset()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TokenTable:
    """Token digests mapped to principals; empty means auth is off."""

    by_digest: Mapping[str, Principal]

    @property
    def enabled(self) -> bool:
        """Whether any token is configured, i.e. whether requests must authenticate."""
        return bool(self.by_digest)

    def lookup(self, token: str) -> Principal | None:
        """The principal a presented token belongs to, or None for an unknown token."""
        return self.by_digest.get(_digest(token))


def _principal(token: Any, entry: Any, where: str) -> Principal:
    if not isinstance(token, str) or not token or token != token.strip() or " " in token:
        raise ConfigurationError(f"{where}: a token must be a non-empty string without spaces")
    if not isinstance(entry, Mapping):
        raise ConfigurationError(f"{where}: expected {{'user': ..., 'teams': [...]}}")
    user = entry.get("user")
    if not isinstance(user, str) or not user.strip():
        raise ConfigurationError(f"{where}: 'user' must be a non-empty string")
    teams = entry.get("teams", [])
    if not isinstance(teams, list) or not all(isinstance(t, str) and t.strip() for t in teams):
        raise ConfigurationError(f"{where}: 'teams' must be a list of non-empty strings")
    unknown = set(entry) - {"user", "teams"}
    if unknown:
        raise ConfigurationError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    return Principal(user_id=user, teams=frozenset(teams))


def parse_tokens(text: str, *, source: str) -> TokenTable:
    """Parse the JSON token table.

    Args:
        text: The JSON text.
        source: Where it came from (an env var or a file), for error messages.

    Raises:
        ConfigurationError: Invalid JSON or an invalid entry, naming which.
    """
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigurationError(f"{source} is not valid JSON: {error}") from error
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"{source} must be a JSON object mapping tokens to users")
    by_digest: dict[str, Principal] = {}
    for position, (token, entry) in enumerate(raw.items()):
        by_digest[_digest(token)] = _principal(token, entry, f"{source} entry #{position + 1}")
    return TokenTable(by_digest)


def load_tokens(env: Mapping[str, str] | None = None) -> TokenTable:
    """Read the token table from ``MEMORY_AUTH_TOKENS`` or the file ``MEMORY_AUTH_FILE``.

    Raises:
        ConfigurationError: Both are set, the file cannot be read, or the table is invalid.
    """
    env = os.environ if env is None else env
    inline = env.get(TOKENS_ENV, "").strip()
    file_name = env.get(FILE_ENV, "").strip()
    if inline and file_name:
        raise ConfigurationError(f"Set {TOKENS_ENV} or {FILE_ENV}, not both.")
    if file_name:
        try:
            text = Path(file_name).read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigurationError(
                f"{FILE_ENV}={file_name!r} cannot be read: {error.strerror}"
            ) from error
        return parse_tokens(text, source=f"{FILE_ENV} ({file_name})")
    if inline:
        return parse_tokens(inline, source=TOKENS_ENV)
    return TokenTable({})
