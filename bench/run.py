"""Run every benchmark, collect bench/results.json, rewrite the README's benchmark table.

Usage: ``.venv/bin/python bench/run.py [--quick] [--only NAME ...] [--no-readme]``
(``make bench`` runs it at full scale). Each script runs in its own process and prints one
JSON object. Items 1 and 2 share one PostgreSQL dataset, loaded once into a temporary data
directory (removed at the end, ``--keep-data DIR`` keeps and reuses it); items 3 and 4 get
a fresh server each; item 5 starts two `langgraph dev` of its own; item 7 a `langgraph dev`
and two production servers (``.venv-serve``, which ``make bench`` installs).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
README = ROOT / "README.md"
RESULTS = BENCH / "results.json"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
SCRIPTS = {
    "turn_overhead": ("turn_overhead.py", True),
    "recall_scale": ("recall_scale.py", True),
    "bulk_writes": ("bulk_writes.py", False),
    "concurrency": ("concurrency.py", False),
    "formation": ("formation.py", False),
    "many_users": ("many_users.py", False),
    "production_server": ("production_server.py", False),
}
TIMEOUT_S = 3 * 3600


def run_script(script: str, quick: bool, data_dir: str | None) -> dict[str, Any]:
    command = [sys.executable, str(BENCH / script)]
    if quick:
        command.append("--quick")
    if data_dir:
        command += ["--data-dir", data_dir]
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=BENCH, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        return {"error": f"{script} exited {done.returncode}", "stderr": done.stderr[-2000:]}
    result = json.loads(done.stdout)
    result["run_s"] = round(time.perf_counter() - started, 1)
    return result


def _ms(value: float) -> str:
    return f"{value:.1f} ms"


def _verdict(backend: str, turn: dict[str, Any]) -> str:
    """ ": met" / ": not met" on the PostgreSQL row of item 1, nothing on the other."""
    if backend != "postgres":
        return ""
    return ": met" if turn["ours_added_p50_ms"] <= 12.0 else ": not met"


def table(results: dict[str, Any]) -> str:
    rows = ["| benchmark | ours | stock | ratio / target | scale |", "|---|---|---|---|---|"]
    turn = results.get("turn_overhead")
    if turn and "error" not in turn:
        scale = turn["scale"]
        for backend, label in (("inmemory", "InMemoryStore"), ("postgres", "PostgreSQL")):
            r = turn[backend]
            trips = ""
            if "sequential_round_trips_per_turn" in r["ours"]:
                trips = (
                    f"; per turn {r['ours']['sql_statements_per_turn']} SQL statement(s) (the "
                    "one read of profile and preferences, recall's one statement, a TTL "
                    "refresh only for items with a TTL), "
                    f"{r['ours']['sequential_round_trips_per_turn']} sequential wait(s), "
                    f"{r['ours']['pool_checkouts_per_turn']} pool checkout(s)"
                )
            parts = r.get("ours_components")
            if parts:
                trips += (
                    f"; alone: the profile and preferences read {_ms(parts['batch']['p50_ms'])}, "
                    f"recall {_ms(parts['recall']['p50_ms'])}, recall right after a write "
                    f"{_ms(parts['recall_after_write']['p50_ms'])} p50"
                )
            where = (
                f"{scale['measured']:,} memories of the user among "
                f"{scale['postgres_total_items']:,} items of "
                f"{scale['postgres_other_users'] + 2:,} users"
                if backend == "postgres"
                else f"{scale['measured']:,} memories of the user + "
                f"{scale['memory_others']:,} of others"
            )
            short = r["stock"].get("turns_with_fewer_than_5_memories")
            trips_stock = f" ({short} of {r['stock']['n']} turns got < 5 memories)" * bool(short)
            rows.append(
                f"| 1. turn overhead, {label}: added p50 / p95 over a no-memory graph "
                f"(plain turn {_ms(r['plain']['p50_ms'])}) | "
                f"+{_ms(r['ours_added_p50_ms'])} / +{_ms(r['ours_added_p95_ms'])}{trips} | "
                f"sequential get/search/get: +{_ms(r['stock_added_p50_ms'])} / "
                f"+{_ms(r['stock_added_p95_ms'])}{trips_stock} | "
                f"target ≤ +12 ms p50 on PostgreSQL{_verdict(backend, r)} | "
                f"{where}, {scale['turns']} turns |"
            )
    rec = results.get("recall_scale")
    if rec and "error" not in rec:
        s = rec["scale"]
        rows.append(
            f"| 2. recall p50 / p95 (query embedding excluded) | "
            f"{_ms(rec['ours']['p50_ms'])} / {_ms(rec['ours']['p95_ms'])} | "
            f"`store.search(query=...)`: {_ms(rec['stock']['p50_ms'])} / "
            f"{_ms(rec['stock']['p95_ms'])} | target p95 ≤ 50 ms: "
            f"{'met' if rec['meets_target'] else 'NOT met'}{_recall_notes(rec)} | "
            f"{s['user_memories']:,} memories of the user + {s['other_items']:,} other items, "
            f"{s['dims']}-dim vectors, {s['queries']} queries |"
        )
    bulk = results.get("bulk_writes")
    if bulk and "error" not in bulk:
        s = bulk["scale"]
        rows.append(
            f"| 3. bulk import, no embeddings | `put_many`: {bulk['ours']['items_per_s']:,} "
            f"items/s | one-by-one `aput`: {bulk['stock_aput']['items_per_s']:,} items/s; raw "
            f"`abatch`: {bulk['stock_abatch']['items_per_s']:,} items/s | "
            f"{bulk['ours_over_stock_aput']}x `aput`, {bulk['ours_over_stock_abatch']}x raw "
            f"`abatch`; target ≥ 10,000/s: "
            f"{'met' if bulk['ours']['items_per_s'] >= 10_000 else 'NOT met'} | "
            f"{bulk['ours']['items']:,} + {bulk['stock_abatch']['items']:,} + "
            f"{bulk['stock_aput']['items']:,} items in {s['rounds']} interleaved rounds |"
        )
    conc = results.get("concurrency")
    if conc and "error" not in conc:
        s = conc["scale"]
        rows.append(
            f"| 4. concurrent profile updates, lost | {conc['ours']['lost_total']} of "
            f"{conc['ours']['updates_total']} | get-modify-put of one document: "
            f"{conc['stock']['lost_total']} of {conc['stock']['updates_total']} | "
            f"target 0 lost: {'met' if conc['ours']['lost_total'] == 0 else 'NOT met'} | "
            f"{s['concurrent_updates']} concurrent runs (own thread_id each) x "
            f"{s['rounds']} rounds |"
        )
        calls = conc.get("store_calls")
        if calls:
            rows.append(
                f"| 4b. concurrent `asearch` (TTL refresh) / `aput` calls | "
                f"{calls['ours_calls_per_s']:,} calls/s | `AsyncPostgresStore`: "
                f"{calls['stock_calls_per_s']:,} calls/s | {calls['ours_over_stock']}x; "
                f"target ≥ 0.8x: {'met' if calls['meets_target'] else 'NOT met'} | "
                f"{calls['calls_per_round']} calls at once (4 in 5 searches) x "
                f"{calls['rounds']} rounds |"
            )
    many = results.get("many_users")
    if many and "error" not in many:
        s = many["scale"]
        cells = {
            way: "; ".join(
                f"{mix} {_ms(many[f'{way}_{mix}']['mean_ms'])} / "
                f"{_ms(many[f'{way}_{mix}']['p95_ms'])}"
                for mix in ("uniform", "zipf")
            )
            for way in ("ours", "stock")
        }
        ratios = ", ".join(
            f"{mix} {many[f'stock_{mix}']['mean_ms'] / many[f'ours_{mix}']['mean_ms']:.1f}x"
            for mix in ("uniform", "zipf")
        )
        rows.append(
            f"| 5. many users: the memory agent's memory read per turn, mean / p95 "
            f"(`bench/run.py --only many_users`) | `load_known`: {cells['ours']} | "
            f"sequential get/search/get: {cells['stock']} | stock / ours mean: {ratios}; "
            f"target mean ≤ 5 ms, p95 ≤ 10 ms, no slower than stock: "
            f"{'met' if many['meets_target'] else 'NOT met'} | "
            f"{s['users']} users x {s['memories_per_user']} memories, {s['turns']} turns per "
            "mix over users chosen uniformly or Zipf(1.0), a fresh process per mix, both ways "
            "interleaved |"
        )
    form = results.get("formation")
    if form and "error" not in form:
        s = form["scale"]
        rows.append(
            f"| 6. memory-agent turn, background formation on: p50 / p95 | "
            f"{_ms(form['turn_on']['p50_ms'])} / {_ms(form['turn_on']['p95_ms'])}; manager "
            f"runs per burst: {', '.join(map(str, form['manager_runs_per_burst']))} (requested "
            f"{', '.join(map(str, form['manager_requests_per_burst']))}) | formation off: "
            f"{_ms(form['turn_off']['p50_ms'])} / {_ms(form['turn_off']['p95_ms'])} | "
            f"{form['added_p50_ms']:+.1f} ms p50 per turn as the client sees it (most of a turn "
            f"is `langgraph dev`'s queue pick-up); the graph's run on the server "
            f"{_ms(form['graph_on']['p50_ms'])} on vs {_ms(form['graph_off']['p50_ms'])} off "
            f"({form['added_graph_p50_ms']:+.1f} ms), the scheduling step "
            f"{_ms(form['schedule_step_on']['p50_ms'])} on vs "
            f"{_ms(form['schedule_step_off']['p50_ms'])} off, p50 (the request goes after the "
            f"turn) | "
            f"{s['bursts']} bursts of {s['turns_per_burst']} turns per mode, "
            f"interleaved, delay {s['delay_s']} s, InMemoryStore, scripted model |"
        )
    prod = results.get("production_server")
    if prod and "error" not in prod:
        s = prod["scale"]
        cells = {
            name: f"{prod[name]['runs_per_s']} runs/s, p50 {_ms(prod[name]['p50_ms'])} / "
            f"p95 {_ms(prod[name]['p95_ms'])}"
            for name in ("dev", "prod_1", "prod_2")
        }
        rows.append(
            f"| 7. concurrent `user_profile` runs through the server (`bench/run.py --only "
            f"production_server`) | production server, 1 process: {cells['prod_1']}; "
            f"2 processes: {cells['prod_2']} | `langgraph dev`: {cells['dev']} | throughput "
            f"{prod['prod_1_over_dev_throughput']}x / {prod['prod_2_over_dev_throughput']}x "
            f"dev, p95 {prod['prod_1_over_dev_p95']}x / {prod['prod_2_over_dev_p95']}x "
            f"(1 / 2 processes); `runs.wait` answers missing keys of the final state: "
            f"{prod['prod_1'].get('failed_runs', 0)} / {prod['prod_2'].get('failed_runs', 0)} "
            f"(dev {prod['dev'].get('failed_runs', 0)}); reported, no target | "
            f"{s['rounds']} interleaved rounds x "
            f"{s['runs_per_batch']} runs per server, {s['concurrency']} in flight, "
            f"{s['jobs']} runs at once per process, a fresh thread and user per run, "
            "all three servers up at once on one embedded PostgreSQL |"
        )
    errors = [name for name, r in results.items() if isinstance(r, dict) and "error" in r]
    for name in errors:
        rows.append(f"| {name} | failed: {results[name]['error']} | | | |")
    return "\n".join(rows)


def _recall_notes(rec: dict[str, Any]) -> str:
    notes = []
    plans = rec.get("plan_uses_hnsw_index") or {}
    if plans.get("ours"):
        notes.append("plan of ours uses the HNSW index (iterative scan)")
    if plans.get("stock"):
        notes.append("plan of stock uses the HNSW index (filtered after)")
    for name in ("ours", "stock"):
        short = rec[name].get("queries_with_fewer_than_5_results")
        if short:
            notes.append(f"{name}: {short} of {rec[name]['n']} queries got < 5 results")
    exact = rec.get("ours_exact_semantic")
    if exact:
        notes.append(
            f"ours with the semantic scan forced exact: {_ms(exact['p50_ms'])} / "
            f"{_ms(exact['p95_ms'])}; top-5 overlap of ours with it "
            f"{rec['ours_top5_overlap_with_exact_semantic']:.0%}"
        )
    return "; " + "; ".join(notes) if notes else ""


def rewrite_readme(results: dict[str, Any], meta: dict[str, Any]) -> None:
    text = README.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    note = (
        f"Measured {meta['date']} with `{meta['command']}`"
        f"{' (quick, small scale)' if meta['quick'] else ''}, {meta['cpus']} CPU cores "
        f"(shared with other work; ours and stock interleaved in the same run), "
        f"{meta['total_s'] / 60:.0f} min in all, most of it loading and indexing the "
        "synthetic dataset (the HNSW index over 1.1M vectors alone takes minutes). "
        "Synthetic data and 64-dimension vectors, made as `bench/common.py` describes; "
        "`bench/results.json` has every figure. `make bench BENCH_ARGS=--quick` is a "
        "small-scale smoke test (under a minute)."
    )
    if meta.get("rerun"):
        note += (
            f" Rows {', '.join(meta['rerun'])} were re-run later on the kept dataset "
            f"(`bench/run.py --only {' '.join(meta['rerun'])} --keep-data DIR`)."
        )
    body = f"{START}\n{table(results)}\n\n{note}\n{END}"
    README.write_text(head + body + tail)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small scale (smoke test)")
    parser.add_argument("--only", nargs="*", choices=list(SCRIPTS))
    parser.add_argument("--no-readme", action="store_true")
    parser.add_argument("--keep-data", default=None, help="data dir for items 1-2, kept")
    parser.add_argument("--render-only", action="store_true", help="README from results.json")
    args = parser.parse_args()
    if args.render_only:
        saved = json.loads(RESULTS.read_text())
        rewrite_readme(saved["results"], saved["meta"])
        print(table(saved["results"]))
        return
    started = time.perf_counter()
    shared = args.keep_data or tempfile.mkdtemp(prefix="memory-casts-bench-")
    results: dict[str, Any] = {}
    try:
        for name, (script, uses_shared) in SCRIPTS.items():
            if args.only and name not in args.only:
                continue
            print(f"running {name}{' (quick)' if args.quick else ''} ...", file=sys.stderr)
            results[name] = run_script(script, args.quick, shared if uses_shared else None)
    finally:
        if not args.keep_data:
            _stop(shared)
            shutil.rmtree(shared, ignore_errors=True)
    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "command": "make bench" if not args.quick else ".venv/bin/python bench/run.py --quick",
        "quick": args.quick,
        "cpus": os.cpu_count(),
    }
    previous = json.loads(RESULTS.read_text()) if args.only and RESULTS.exists() else {}
    merged = {**previous.get("results", {}), **results}
    meta["this_run_s"] = round(time.perf_counter() - started, 1)
    # ``--only`` re-runs some scripts (reusing a kept dataset): keep the full run's time.
    meta["total_s"] = (previous.get("meta") or {}).get("total_s") or meta["this_run_s"]
    if args.only:
        meta["rerun"] = sorted({*(previous.get("meta") or {}).get("rerun", []), *args.only})
    RESULTS.write_text(json.dumps({"meta": meta, "results": merged}, indent=2) + "\n")
    if not args.no_readme:
        rewrite_readme(merged, meta)
    print(table(merged))
    if any("error" in r for r in results.values()):
        sys.exit(1)


def _stop(directory: str) -> None:
    sys.path.insert(0, str(BENCH))
    from common import _stop_embedded

    _stop_embedded(Path(directory))


if __name__ == "__main__":
    main()
