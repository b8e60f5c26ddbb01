"""Cost of sequential editing per round and per editor as the base grows (issue 32, deliverable 4):
where does editing by rebuilding the fact MLP stop being cheaper than a rank-one update?

    python -m benchmarks sequential_cost [--sizes 256,1024,4096] [--rounds 3]
        [--threads 2] [--out benchmarks/results/sequential_cost.tsv]

Per base size N (books): a base of the editing stage's recipe (:func:`factmlp.editing.base.make_base`,
d = 128, the medium 4,096-book base's fact MLP family: ``hebbian_whitened`` at hidden N / 2) trained for
``--epochs`` epochs only -- the cost of an edit does not depend on how well the base recalls, so the
base is not trained to recall here (the pipeline's bases are) -- then ``--rounds`` rounds of
N / 20 edits (5% a round) with each editor at one grid point (100 fit steps, lr 0.5; MEMIT lambda
15,000; AlphaEdit threshold 1e-2), through :func:`factmlp.editing.sequential.run_sequential` with the
medium 4,096-book setting's scale options (accuracies at the last position, non-fact CE on 512
books, deltas fitted through the head). One row per (N, editor, round): the round's wall seconds (the
build, or fit + update; the evaluation excluded) and its peak resident set
(:class:`factmlp.jobstats.PeakWindow`), plus the editor's median over rounds.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

from factmlp.editing.base import BaseSettings, make_base
from factmlp.editing.experiment import EditSettings
from factmlp.editing.sequential import run_sequential
from factmlp.io import write_tsv
from factmlp.registry import get_method

GRID = EditSettings(steps=(100,), lr=(0.5,), stop_loss=(0.05,), rome_weight_decay=(0.0015,), memit_lambda=(15000.0,),
                    clip=(None,), alphaedit_tol=(1e-2,), eval_subjects=512, fit_last_position=True)


def measure(n: int, *, d: int, rounds: int, epochs: int, seed: int = 0) -> list[dict]:
    method = get_method("hebbian_whitened")
    t0 = time.perf_counter()
    corpus, vocab, _, model, metrics = make_base(
        method, n // 2, d=d, n_subjects=n, n_train_templates=8, n_templates=12, authors="bijection",
        objects_per_subject=1.0, settings=BaseSettings(epochs=epochs, batch_size=64, lr=0.003, schedule="cosine",
                                                       warmup=0.05, batching="mixed"), seed=seed)
    base_s = time.perf_counter() - t0
    rows = run_sequential(model, corpus, vocab, method, n // 2, GRID, batch=max(1, n // 20), rounds=rounds,
                          base_ce=metrics["base_nonfact_ce"], seed=seed)
    return [{"n_subjects": n, "hidden": n // 2, "d": d, "base_seconds": round(base_s, 2), "editor": r["editor"],
             "round": r["round"], "batch": r["batch"], "seconds": r["seconds"], "peak_rss_mib": r["peak_rss_mib"],
             "score_gm": r["score_gm"]} for r in rows]


def main(argv: list[str] | None = None) -> int | None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="256,1024,4096")
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/sequential_cost.tsv")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for n in (int(x) for x in args.sizes.split(",")):
        rows += measure(n, d=args.d, rounds=args.rounds, epochs=args.epochs)
        summary = pd.DataFrame(rows).query("n_subjects == @n").groupby("editor")[["seconds", "peak_rss_mib"]].median()
        print(f"N = {n}:\n{summary.round(3)}", flush=True)
    write_tsv(pd.DataFrame(rows), args.out)
