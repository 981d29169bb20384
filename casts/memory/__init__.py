"""The memory layer every cast shares: import what a cast needs from here.

A cast imports ``casts.memory`` and ``casts.base_*``, never another cast and never a
sub-package's internals, so copying one cast folder starts a new agent. The sub-packages
show the architecture:

- ``core``: run context, identity, namespaces and keys, values, records, errors.
- ``store``: the guarded store, whole-namespace reads, persistence factories, the embedded
  PostgreSQL, embeddings, bulk transfer.
- ``kinds``: profiles and preferences, memories, knowledge, team workspaces, session
  scratch, forgetting a user.
- ``recall``: hybrid recall (one engine per backend, one fusion).
- ``auth``: bearer tokens, the access policy, the server's auth handler.
- ``agent``: the chat model and its node, tool error handling, background formation.
- ``cli`` and ``evaluation``: the ``memory-casts`` command and recall measurement.
- ``settings`` (every setting, read once), ``tools`` (model-callable tools several casts
  share) and ``server`` (exactly what ``langgraph.json`` names).

Public API (pinned by ``tests/test_public_api.py``):

- Modules, for the kinds' many operations: ``namespaces``, ``memories``, ``profiles``,
  ``knowledge``, ``workspace``, ``scratch``, ``formation``, ``settings``, ``tools``.
- Context and identity: ``MemoryContext``, ``TeamContext``, ``Identity``,
  ``resolve_identity``, ``Namespace``.
- The store: ``require_store``, ``check_op``, ``GuardedStore``, ``asearch_all``,
  ``iter_items``, ``newest_items``, ``open_store``, ``open_store_sync``, ``open_checkpointer``,
  ``open_checkpointer_sync``, ``run_sync``.
- Records and values: ``Memory``, ``Provenance``, ``ProfileField``, ``Preference``,
  ``Fact``, ``WorkspaceEntry``, ``TeamMember``, ``ScratchEntry``, ``parse_record``,
  ``check_moment``, ``check_scalar_or_list``, ``iso_now``, ``utc_now``, ``validate_key``,
  ``validate_value``, ``check_entries``, ``deletion_ops``.
- Recall: ``recall``, ``hybrid_search``, ``Weights``.
- The kinds' operations the casts call by name: ``read_profile``, ``plan_profile_change``,
  ``apply_profile_change``, ``add_facts``, ``list_facts``, ``list_topics``,
  ``search_facts``, ``read_workspace``, ``write_workspace``, ``get_entry``,
  ``create_team``, ``add_member``, ``remove_member``, ``team_role``, ``read_scratch``,
  ``write_scratch``, ``end_session``, ``DEFAULT_TTL_MINUTES``, ``forget_user``.
- Chat casts: ``CallModel``, ``Conversation``, ``chat_model_from_env``,
  ``ScheduleFormation``, ``transcript``, ``report_errors``, ``runs_sync``.
- Shared tools: ``PROFILE_TOOLS``, ``get_user_profile``, ``update_user_profile``,
  ``get_preference``, ``set_preference``.
- Settings: ``Settings``, ``current``.
- Errors: ``MemoryCastError`` and its subclasses ``InvalidValueError``,
  ``InvalidNamespaceError``, ``TTLNotSupportedError``, ``MissingIdentityError``,
  ``IdentityMismatchError``, ``AccessDeniedError``, ``MemoryNotFoundError``,
  ``StoreUnavailableError``, ``ConfigurationError``, ``EmbeddingDimensionMismatchError``.
"""

from casts.memory import settings, tools
from casts.memory.agent import formation
from casts.memory.agent.formation import ScheduleFormation, transcript
from casts.memory.agent.model import CallModel, Conversation, chat_model_from_env
from casts.memory.agent.tooling import report_errors, runs_sync
from casts.memory.core import namespaces
from casts.memory.core.context import MemoryContext, TeamContext
from casts.memory.core.errors import (
    AccessDeniedError,
    ConfigurationError,
    EmbeddingDimensionMismatchError,
    IdentityMismatchError,
    InvalidNamespaceError,
    InvalidValueError,
    MemoryCastError,
    MemoryNotFoundError,
    MissingIdentityError,
    StoreUnavailableError,
    TTLNotSupportedError,
)
from casts.memory.core.identity import Identity, resolve_identity
from casts.memory.core.namespaces import Namespace
from casts.memory.core.records import (
    Fact,
    Memory,
    Preference,
    ProfileField,
    Provenance,
    ScratchEntry,
    TeamMember,
    WorkspaceEntry,
    check_moment,
    check_scalar_or_list,
    iso_now,
    parse_record,
    utc_now,
)
from casts.memory.core.values import check_entries, deletion_ops, validate_key, validate_value
from casts.memory.kinds import knowledge, memories, profiles, scratch, workspace
from casts.memory.kinds.forgetting import forget_user
from casts.memory.kinds.knowledge import add_facts, list_facts, list_topics, search_facts
from casts.memory.kinds.profiles import apply_profile_change, plan_profile_change, read_profile
from casts.memory.kinds.scratch import DEFAULT_TTL_MINUTES, end_session, read_scratch, write_scratch
from casts.memory.kinds.workspace import (
    add_member,
    create_team,
    get_entry,
    read_workspace,
    remove_member,
    team_role,
    write_workspace,
)
from casts.memory.recall.fusion import Weights
from casts.memory.recall.search import hybrid_search, recall
from casts.memory.settings import Settings, current
from casts.memory.store.blocking import run_sync
from casts.memory.store.guarded import GuardedStore, check_op, require_store
from casts.memory.store.persistence import (
    open_checkpointer,
    open_checkpointer_sync,
    open_store,
    open_store_sync,
)
from casts.memory.store.reading import asearch_all, iter_items, newest_items
from casts.memory.tools import (
    PROFILE_TOOLS,
    get_preference,
    get_user_profile,
    set_preference,
    update_user_profile,
)

__all__ = [
    "DEFAULT_TTL_MINUTES",
    "PROFILE_TOOLS",
    "AccessDeniedError",
    "CallModel",
    "ConfigurationError",
    "Conversation",
    "EmbeddingDimensionMismatchError",
    "Fact",
    "GuardedStore",
    "Identity",
    "IdentityMismatchError",
    "InvalidNamespaceError",
    "InvalidValueError",
    "Memory",
    "MemoryCastError",
    "MemoryContext",
    "MemoryNotFoundError",
    "MissingIdentityError",
    "Namespace",
    "Preference",
    "ProfileField",
    "Provenance",
    "ScheduleFormation",
    "ScratchEntry",
    "Settings",
    "StoreUnavailableError",
    "TTLNotSupportedError",
    "TeamContext",
    "TeamMember",
    "Weights",
    "WorkspaceEntry",
    "add_facts",
    "add_member",
    "apply_profile_change",
    "asearch_all",
    "chat_model_from_env",
    "check_entries",
    "check_moment",
    "check_op",
    "check_scalar_or_list",
    "create_team",
    "current",
    "deletion_ops",
    "end_session",
    "forget_user",
    "formation",
    "get_entry",
    "get_preference",
    "get_user_profile",
    "hybrid_search",
    "iso_now",
    "iter_items",
    "knowledge",
    "list_facts",
    "list_topics",
    "memories",
    "namespaces",
    "newest_items",
    "open_checkpointer",
    "open_checkpointer_sync",
    "open_store",
    "open_store_sync",
    "parse_record",
    "plan_profile_change",
    "profiles",
    "read_profile",
    "read_scratch",
    "read_workspace",
    "recall",
    "remove_member",
    "report_errors",
    "require_store",
    "resolve_identity",
    "run_sync",
    "runs_sync",
    "scratch",
    "search_facts",
    "set_preference",
    "settings",
    "team_role",
    "tools",
    "transcript",
    "update_user_profile",
    "utc_now",
    "validate_key",
    "validate_value",
    "workspace",
    "write_scratch",
    "write_workspace",
]
