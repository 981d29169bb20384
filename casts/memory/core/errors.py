"""Errors the memory layer raises.

Each error names what was wrong (the field, the label, the setting) so that a caller --
a person, a tool returning text to a model, or an HTTP client -- can act on it.
"""

from __future__ import annotations

from langgraph.store.base import InvalidNamespaceError as LangGraphInvalidNamespaceError

try:  # The server's HTTP layer answers an HTTPException with its status and message.
    from starlette.exceptions import HTTPException as _HTTPStatus
except ImportError:  # no server installed (scripts, the CLI): no status to map to
    _HTTPStatus = Exception  # type: ignore[assignment,misc]


class MemoryCastError(Exception):
    """Base class for every error of the memory layer."""


class InvalidValueError(MemoryCastError, ValueError):
    """A value, key or record failed validation; nothing was written.

    Attributes:
        field: Dotted path of the offending field (``value.tags[2]``), or the argument name.
        reason: Why the field was rejected.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class TTLNotSupportedError(InvalidValueError, NotImplementedError):
    """A write asked for a TTL the backend cannot keep (InMemoryStore); nothing was written.

    Also the ``NotImplementedError`` LangGraph raises there, so code written against
    LangGraph's stores catches it; as a ValueError the server answers it with a 4xx.
    """


class InvalidNamespaceError(MemoryCastError, LangGraphInvalidNamespaceError):
    """A namespace or one of its labels is not one the project uses or the store accepts.

    Also LangGraph's ``InvalidNamespaceError`` (a ValueError), so code written against
    LangGraph's stores catches the project's refusals too.
    """


# The server shows clients the message of ValueError, RuntimeError and a few other builtins
# only ("An internal error occurred" for the rest), so the refusals below are ValueErrors too:
# a client must learn *why* its run was refused.


class MissingIdentityError(MemoryCastError, LookupError, ValueError):
    """A user- or team-scoped operation ran without knowing whose memory it touches."""


class IdentityMismatchError(MemoryCastError, PermissionError, ValueError):
    """The client asked to act as a different user than the one the server authenticated."""


class AccessDeniedError(MemoryCastError, PermissionError, ValueError):
    """The caller may not read or write this memory (for example a non-member of a team)."""


class MemoryNotFoundError(MemoryCastError, LookupError, ValueError):
    """The user has no memory under the given key (nothing was deleted)."""


class StoreUnavailableError(MemoryCastError, RuntimeError, _HTTPStatus):
    """The graph was run without a store, or the configured backend cannot start or answer.

    It is also an HTTP 503 for the server: the HTTP store API would otherwise answer "500
    Internal Server Error" (and drop the connection) for a database that is merely down.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.status_code = 503
        self.detail = message
        self.headers = None

    def __str__(self) -> str:
        return self.detail


class ConfigurationError(MemoryCastError, ValueError):
    """A setting from the environment is missing, unknown or inconsistent."""


class EmbeddingDimensionMismatchError(ConfigurationError):
    """The database holds vectors of other dimensions than the configured embeddings produce."""
