"""Item 3: bulk import throughput into PostgreSQL without embeddings (MEMORY_EMBEDDINGS=none).

Interleaved rounds, each writing fresh items (same shape: ``records.Memory`` values) with:

- ``ours``: ``casts.memory.store.transfer.put_many`` through ``GuardedStore`` (validated batches of
  1,024 ops, one ``abatch`` each);
- ``stock_aput``: one ``await store.aput(...)`` per item on the raw AsyncPostgresStore;
- ``stock_abatch``: raw ``store.abatch`` of the same 1,024-op batches (no validation).

Throughput = items written / wall time, summed over the rounds.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from common import arguments, emit, memory_value, postgres, sentence, settings_for
from langgraph.store.base import PutOp

from casts.memory import namespaces
from casts.memory.store.persistence import open_store
from casts.memory.store.transfer import DEFAULT_BATCH, put_many


async def main() -> None:
    args = arguments()
    rounds = 3 if args.quick else 5
    batch_items = 2_000 if args.quick else 20_000  # per round, ours and stock_abatch
    aput_items = 300 if args.quick else 2_000  # per round, one by one is slow
    rng = random.Random(5)
    stamp = "2026-01-01T00:00:00+00:00"
    written: dict[str, int] = {"ours": 0, "stock_abatch": 0, "stock_aput": 0}
    seconds: dict[str, float] = dict.fromkeys(written, 0.0)
    per_round: dict[str, list[float]] = {name: [] for name in written}

    def ops(name: str, round_no: int, count: int) -> list[PutOp]:
        namespace = namespaces.user_memories(f"bulk-{name}-{round_no}")
        return [
            PutOp(namespace, f"mem-{i:07d}", memory_value(sentence(rng), stamp))
            for i in range(count)
        ]

    with postgres(args.data_dir) as (uri, _):
        async with open_store(settings_for(uri, embeddings="none")) as store:
            inner = store.inner
            for round_no in range(rounds):
                order = ["ours", "stock_abatch", "stock_aput"]
                random.Random(round_no).shuffle(order)
                for name in order:
                    count = aput_items if name == "stock_aput" else batch_items
                    batch = ops(name, round_no, count)
                    started = time.perf_counter()
                    if name == "ours":
                        await put_many(store, batch, progress=False)
                    elif name == "stock_abatch":
                        for start in range(0, len(batch), DEFAULT_BATCH):
                            await inner.abatch(batch[start : start + DEFAULT_BATCH])
                    else:
                        for op in batch:
                            await inner.aput(op.namespace, op.key, op.value)
                    elapsed = time.perf_counter() - started
                    written[name] += count
                    seconds[name] += elapsed
                    per_round[name].append(count / elapsed)
    out: dict[str, Any] = {
        "benchmark": "bulk_writes",
        "quick": args.quick,
        "scale": {
            "rounds": rounds,
            "items_per_round_batched": batch_items,
            "items_per_round_aput": aput_items,
            "embeddings": "none",
        },
    }
    for name in written:
        rates = sorted(per_round[name])
        out[name] = {
            "items": written[name],
            "items_per_s": round(written[name] / seconds[name]),
            "median_round_items_per_s": round(rates[len(rates) // 2]),
        }
    out["ours_over_stock_aput"] = round(
        out["ours"]["items_per_s"] / out["stock_aput"]["items_per_s"], 1
    )
    out["ours_over_stock_abatch"] = round(
        out["ours"]["items_per_s"] / out["stock_abatch"]["items_per_s"], 2
    )
    out["target"] = "ours >= 5000 items/s"
    out["meets_target"] = out["ours"]["items_per_s"] >= 5000
    emit(out)


if __name__ == "__main__":
    asyncio.run(main())
