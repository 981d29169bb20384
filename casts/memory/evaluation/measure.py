"""Measure recall on LoCoMo-format conversations, ours and the stock search side by side.

Every turn is stored as one memory (through ``put_many``, the normal validated write path)
in a fresh namespace per conversation; every question of categories 1-4 is asked through
each ranker. Recall@k of a question is the share of its evidence turns among the top k;
the score is the mean over questions, in percent. Latency is per query, embedding of the
query included. The namespaces are deleted afterwards.
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.embeddings import Embeddings
from langgraph.store.base import BaseStore, PutOp, SearchItem
from tqdm import tqdm

from casts.memory.core.namespaces import Namespace, user_memories
from casts.memory.evaluation.locomo import Conversation
from casts.memory.recall.fusion import Weights
from casts.memory.recall.search import hybrid_search
from casts.memory.store.transfer import DEFAULT_BATCH, put_many, puts

Search = Callable[[BaseStore, Namespace, str, int], Awaitable[list[SearchItem]]]
THROUGHPUT_SAMPLE = 1000
LABELS = {"recall": "recall (hybrid)", "lexical": "lexical only", "baseline": "stock search"}


def hybrid(weights: Weights) -> Search:
    """The recall path with the given blend."""

    async def search(store: BaseStore, namespace: Namespace, query: str, k: int) -> list:
        return await hybrid_search(store, namespace, query, limit=k, weights=weights)

    return search


async def stock(store: BaseStore, namespace: Namespace, query: str, k: int) -> list:
    """The stock way: ``store.search(query=...)``, ranked by the embedding alone."""
    return await store.asearch(namespace, query=query, limit=k)


@dataclass
class RankerResult:
    """Recall@k (percent) and per-query latencies (ms) of one ranker."""

    recall: dict[int, float]
    latencies_ms: list[float] = field(default_factory=list)

    def percentile(self, share: float) -> float:
        """Latency at ``share`` (0.5 = median), in ms."""
        if len(self.latencies_ms) < 2:
            return self.latencies_ms[0] if self.latencies_ms else 0.0
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[
            round(share * 100) - 1
        ]


@dataclass
class Report:
    """Everything one evaluation run measured."""

    rankers: dict[str, RankerResult]
    questions: int
    memories: int
    ingest_per_s: float
    embed_per_s: float | None

    def as_json(self, main: str = "recall", baseline: str = "baseline") -> dict[str, Any]:
        """The ``--json`` object of ``memory-casts eval recall``."""
        out: dict[str, Any] = {
            name: {f"R@{k}": round(v, 1) for k, v in self.rankers[name].recall.items()}
            for name in (main, baseline)
            if name in self.rankers
        }
        ours = self.rankers[main]
        out.update(
            ingest_per_s=round(self.ingest_per_s, 1),
            query_p50_ms=round(ours.percentile(0.5), 2),
            query_p95_ms=round(ours.percentile(0.95), 2),
            questions=self.questions,
            memories=self.memories,
        )
        for name, result in self.rankers.items():
            if name not in (main, baseline):
                out[name] = {f"R@{k}": round(v, 1) for k, v in result.recall.items()}
        if self.embed_per_s is not None:
            out["embed_per_s"] = round(self.embed_per_s, 1)
        return out


def model_throughput(embeddings: Embeddings, texts: Sequence[str]) -> float:
    """The model's own batch throughput on ``texts`` (texts per second), after a warm-up."""
    embeddings.embed_documents(list(texts[:8]))
    started = time.perf_counter()
    embeddings.embed_documents(list(texts))
    return len(texts) / (time.perf_counter() - started)


async def evaluate(
    store: BaseStore,
    conversations: Sequence[Conversation],
    rankers: dict[str, Search],
    *,
    ks: Sequence[int] = (1, 5, 10, 25),
    embeddings: Embeddings | None = None,
    batch_size: int = DEFAULT_BATCH,
    progress: bool | None = None,
) -> Report:
    """Ingest the conversations, ask their questions through every ranker, clean up."""
    run = uuid.uuid4().hex[:8]
    spaces = [user_memories(f"locomo-eval-{run}-{c.name}") for c in conversations]
    texts = [value["content"] for c in conversations for _, value in c.memories]
    sample = texts[:: max(1, len(texts) // THROUGHPUT_SAMPLE)]
    rates = [model_throughput(embeddings, sample)] if embeddings is not None and texts else []
    try:
        writes = [
            op
            for conversation, namespace in zip(conversations, spaces, strict=True)
            for op in puts(namespace, conversation.memories)
        ]
        started = time.perf_counter()
        await put_many(
            store, writes, batch_size=batch_size, progress=progress, description="ingest"
        )
        ingest_rate = len(texts) / max(time.perf_counter() - started, 1e-9)
        if rates:
            # Measured before and after ingest: on a shared machine the load drifts.
            rates.append(model_throughput(embeddings, sample))  # type: ignore[arg-type]
        results = await _ask(store, conversations, spaces, rankers, ks, progress)
    finally:
        await put_many(
            store,
            [
                PutOp(namespace, key, None)
                for conversation, namespace in zip(conversations, spaces, strict=True)
                for key, _ in conversation.memories
            ],
            progress=False,
        )
    return Report(
        rankers=results,
        questions=sum(len(c.questions) for c in conversations),
        memories=len(texts),
        ingest_per_s=ingest_rate,
        embed_per_s=statistics.fmean(rates) if rates else None,
    )


async def _ask(
    store: BaseStore,
    conversations: Sequence[Conversation],
    spaces: Sequence[Namespace],
    rankers: dict[str, Search],
    ks: Sequence[int],
    progress: bool | None,
) -> dict[str, RankerResult]:
    deepest = max(ks)
    found: dict[str, list[dict[int, float]]] = {name: [] for name in rankers}
    latencies: dict[str, list[float]] = {name: [] for name in rankers}
    total = sum(len(c.questions) for c in conversations)
    with tqdm(
        total=total,
        desc="questions",
        file=sys.stderr,
        leave=False,
        disable=(not sys.stderr.isatty()) if progress is None else not progress,
    ) as bar:
        for conversation, namespace in zip(conversations, spaces, strict=True):
            for question in conversation.questions:
                for name, search in rankers.items():
                    started = time.perf_counter()
                    items = await search(store, namespace, question.text, deepest)
                    latencies[name].append((time.perf_counter() - started) * 1000)
                    keys = [item.key for item in items]
                    found[name].append(
                        {
                            k: len(question.evidence & set(keys[:k])) / len(question.evidence)
                            for k in ks
                        }
                    )
                bar.update(1)
    return {
        name: RankerResult(
            recall={k: 100 * statistics.fmean(row[k] for row in rows) if rows else 0.0 for k in ks},
            latencies_ms=latencies[name],
        )
        for name, rows in found.items()
    }


def format_table(report: Report, *, title: str) -> str:
    """The human-readable report: one row per ranker, then ingest figures."""
    ks = list(next(iter(report.rankers.values())).recall)
    columns = "".join(f"{'R@' + str(k):>8}" for k in ks)
    header = f"{'':<16}{columns}{'p50 ms':>9}{'p95 ms':>9}"
    lines = [title, header]
    for name, result in report.rankers.items():
        cells = "".join(f"{result.recall[k]:>8.1f}" for k in ks)
        p50, p95 = result.percentile(0.5), result.percentile(0.95)
        lines.append(f"{LABELS.get(name, name):<16}{cells}{p50:>9.1f}{p95:>9.1f}")
    ingest = f"ingest: {report.ingest_per_s:.0f} memories/s"
    if report.embed_per_s:
        share = 100 * report.ingest_per_s / report.embed_per_s
        ingest += f" (model alone: {report.embed_per_s:.0f}/s; ingest at {share:.0f}%)"
    lines.append(ingest)
    lines.append(f"{report.questions} questions over {report.memories} memories")
    return "\n".join(lines)
