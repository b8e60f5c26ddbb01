"""Why ROME collapses from round 1 of sequential editing on the 4,096-book base: its key statistic's ridge.

    python -m benchmarks sequential_ridge --base-pt RUN/results/editing/hebbian_4096/s0/base.pt \
        --config docs/results/medium/config.yaml --base hebbian_4096 --seed 0 [--ridges 1e-6,1e-2,1e-1]
        [--editors rome] [--lr 0.05] [--out benchmarks/results/sequential_ridge.tsv]

Claim E1's medium design edits 10 rounds of 205 of the 4,096 books; the baselines' preserved-key
statistics come from the books no round edits (2,046), whose fact-MLP hidden keys live in
h = 2,048 dimensions, so C = Kp Kp^T / n_p is singular up to the ridge (``editing.grid.ridge``,
1e-6 of C's mean eigenvalue in every config). ROME's update direction C^{-1} k then lies in the
near-null space of C and its summed rank-one updates interfere. This re-runs the sequential protocol
(:func:`factmlp.editing.sequential.run_sequential`, the pipeline's own function, same base, plan and
grid point) for the given editors at each ridge, one row per (ridge, editor, round). A variant beside
the pre-registered verdict, not in place of it: the config's ridge is what E1 was decided with.
About 40 s per ridge and editor on 2 cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import pandas as pd
import torch
import yaml

from factmlp.config import base_name, editing_for_base, sequential_grid
from factmlp.editing.base import load_base
from factmlp.editing.experiment import EditSettings
from factmlp.editing.sequential import run_sequential, sequential_plan
from factmlp.io import write_tsv
from factmlp.registry import get_method


def main(argv: list[str] | None = None) -> int | None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base-pt", required=True, help="a finished run's results/editing/<base>/s<seed>/base.pt")
    ap.add_argument("--config", required=True, help="the config that run used (its snapshot's config.yaml)")
    ap.add_argument("--base", default="hebbian_4096", help="the name of the base in editing.base_mlps")
    ap.add_argument("--seed", type=int, default=0, help="the base's seed (the plan's seed)")
    ap.add_argument("--ridges", default="1e-6,1e-2,1e-1")
    ap.add_argument("--editors", default="rome", help="comma-separated baselines (rome, memit, alphaedit)")
    ap.add_argument("--lr", type=float, default=0.05, help="the fit's learning rate (one grid point)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/sequential_ridge.tsv")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    with open(args.config) as fh:
        config = yaml.safe_load(fh)
    editing = config["editing"]
    base = next((b for b in editing["base_mlps"] if base_name(b) == args.base), None)
    if base is None:
        raise SystemExit(f"{args.config}: no base named {args.base!r} in editing.base_mlps")
    section = editing_for_base(editing, base)
    seq = section["sequential"]
    grid = {**sequential_grid(section), "lr": [args.lr]}
    grid["steps"] = grid["steps"][:1]
    corpus, vocab, model, metrics = load_base(args.base_pt)
    _, preserved, _ = sequential_plan(corpus, seq["batch"], seq["rounds"], seed=args.seed)
    kp = model.fact_keys(corpus.sentences(preserved, 0)[:, :-1]).T
    sv = torch.linalg.svdvals(kp)
    method = get_method(base["method"], **(base.get("settings") or {}))
    rows = []
    for ridge in (float(r) for r in args.ridges.split(",")):
        settings = dataclasses.replace(EditSettings.from_config(grid), ridge=ridge)
        t0 = time.perf_counter()
        out = run_sequential(model, corpus, vocab, method, base["size"], settings, batch=seq["batch"],
                             rounds=seq["rounds"], base_ce=metrics["base_nonfact_ce"], seed=args.seed,
                             editors=tuple(args.editors.split(",")))
        for r in out:
            rows.append({"base": args.base, "seed": args.seed, "ridge": ridge, "hidden": kp.shape[0],
                         "n_preserved": kp.shape[1], "kp_rank_1e-6": int((sv > 1e-6 * sv[0]).sum()),
                         **{k: r[k] for k in ("editor", "hyperparameters", "round", "n_edited", "efficacy",
                                              "paraphrase", "specificity", "nonfact_ppl_ratio", "score_gm",
                                              "update_norm")}})
        for r in out:
            if r["round"] in (1, seq["rounds"]):
                print(f"ridge {ridge:g} {r['editor']} {r['hyperparameters']}: round {r['round']} score "
                      f"{r['score_gm']:.3f} (efficacy {r['efficacy']:.3f})", flush=True)
        print(f"ridge {ridge:g}: {time.perf_counter() - t0:.0f} s", flush=True)
    write_tsv(pd.DataFrame(rows), args.out)
    print(f"wrote {args.out}")
    return 0
