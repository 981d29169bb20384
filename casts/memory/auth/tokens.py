"""Who a bearer token belongs to: the token table the server's auth handler checks.

Tokens come from the settings (``casts.memory.settings``), so a deployment configures users
without code:

- ``MEMORY_AUTH_TOKENS``: JSON ``{"<token>": {"user": "alice", "teams": ["t1"]}, ...}``;
- ``MEMORY_AUTH_FILE``: the path of a file holding the same JSON (keeps tokens out of the
  process list and of ``.env``).

Setting neither means "no auth": the server lets every request through, as the unauthenticated
dev server always did -- but only on a loopback address (see ``server_tokens``). Auth fails
closed: setting both is refused, so nobody wonders which one wins; a setting that is present
but empty (a ``.env`` line ``MEMORY_AUTH_TOKENS=`` overrides the process environment with
"") or a table with no tokens is refused rather than read as "no auth"; a malformed table
fails the server at start-up with a message naming the entry, never later per request.

Tokens are kept only as SHA-256 digests: a lookup hashes the presented token, so the time a
lookup takes does not depend on how much of a real token the caller guessed.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from casts.memory.core.errors import ConfigurationError
from casts.memory.settings import Settings, current

TOKENS_ENV = "MEMORY_AUTH_TOKENS"
FILE_ENV = "MEMORY_AUTH_FILE"
OPEN_NETWORK_ENV = "MEMORY_ALLOW_OPEN_NETWORK"
SERVER_URL_ENV = "LANGGRAPH_API_URL"
"""Set by ``langgraph dev`` for the server process: ``http://<host>:<port>`` it listens on."""


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
        ConfigurationError: Invalid JSON, an invalid entry (naming which) or no entry at all.
    """
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigurationError(f"{source} is not valid JSON: {error}") from error
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"{source} must be a JSON object mapping tokens to users")
    if not raw:
        raise ConfigurationError(
            f"{source} holds no tokens: a server with auth configured but no token would "
            "let everyone in. Add a token, or unset it to run without auth on 127.0.0.1."
        )
    by_digest: dict[str, Principal] = {}
    for position, (token, entry) in enumerate(raw.items()):
        by_digest[_digest(token)] = _principal(token, entry, f"{source} entry #{position + 1}")
    return TokenTable(by_digest)


def load_tokens(settings: Settings | None = None) -> TokenTable:
    """Read the token table from ``MEMORY_AUTH_TOKENS`` or the file ``MEMORY_AUTH_FILE``.

    Only a setting that is absent means "no auth"; one that is present is a table or an error
    (``Settings`` has already refused one that is empty, or both at once).

    Args:
        settings: The settings to read; the process's (``settings.current()``) by default.

    Raises:
        ConfigurationError: The file cannot be read, or the table is invalid or empty --
            naming the setting.
    """
    settings = settings or current()
    if settings.auth_file is not None:
        file_name = settings.auth_file
        try:
            text = Path(file_name).read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigurationError(
                f"{FILE_ENV}={file_name!r} cannot be read: {error.strerror}"
            ) from error
        return parse_tokens(text, source=f"{FILE_ENV} ({file_name})")
    if settings.auth_tokens is not None:
        return parse_tokens(settings.auth_tokens.get_secret_value(), source=TOKENS_ENV)
    return TokenTable({})


def server_tokens(settings: Settings | None = None) -> TokenTable:
    """The token table for the server's auth handler, refusing to serve a network openly.

    Without tokens anyone who reaches the server acts as any user, so that is allowed only
    where nobody else can reach it: when the server says it listens on a loopback address
    (``langgraph dev`` puts its ``--host`` into ``LANGGRAPH_API_URL``). Any other address,
    a tunnel, or a server that does not say (a container) needs tokens, or
    ``MEMORY_ALLOW_OPEN_NETWORK=true`` to accept the risk explicitly.

    Args:
        settings: The settings to read; the process's (``settings.current()``) by default.

    Raises:
        ConfigurationError: See ``load_tokens``; or no tokens on a non-loopback address.
    """
    settings = settings or current()
    table = load_tokens(settings)
    if table.enabled or settings.allow_open_network:
        return table
    host = urlsplit(settings.server_url or "").hostname
    if host is not None and _is_loopback(host):
        return table
    where = f"listens on {host}" if host else f"does not say where it listens ({SERVER_URL_ENV})"
    raise ConfigurationError(
        f"No auth configured ({TOKENS_ENV} or {FILE_ENV}) and the server {where}: anyone "
        f"who reaches it could act as any user. Configure tokens, listen on 127.0.0.1, or "
        f"set {OPEN_NETWORK_ENV}=true to serve without auth anyway."
    )


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
