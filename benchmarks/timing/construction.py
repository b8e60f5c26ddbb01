"""Benchmark: closed-form encoder-decoder build time, and its speed against GD training.

    python -m benchmarks construction [--threads 2] [--out benchmarks/results/construction.tsv]

Rows (one table):
- ``build``: |K| = 1e5 keys, |V| = 4096 values, d = 256, random map, code dim m' = 64 (defaults of
  ``--n-keys --n-values --d --code-dim``; smaller values for a quick check): wall time of
  the separators u* (decodability of V) and of the encoder + decoder given u*; storage accuracy on
  a 2,000-key sample (a full forward pass costs O(|K| h d)).
- ``build_vs_gd``: the *same* 1e5-fact set trained by GD with the pipeline's (the paper's) GD
  protocol: full-batch Adam, lr 1e-3 cosine to 1e-6 over 10,000 epochs, cross-entropy on the logits
  g(K) V^T, stop at 100% accuracy. One epoch costs O(|K| |V| d) for the logits alone (~8 s per epoch on 2 cores),
  so GD to 100% would take hours to days on a CPU; the run is therefore given a wall-clock budget
  of ``--budget-factor`` (100) x the construction's total time (separators + build) and stops at
  100% or at the budget. If GD has not reached 100% by then (or by its epoch cap), the speedup is *at least* the budget
  factor: ``speedup`` = GD seconds / construction seconds and ``speedup_is_lower_bound`` = True,
  with the accuracy GD did reach in ``gd_accuracy``. GD width ``--big-gd-width`` (1024): about 2x
  the width at which GD's params match its measured facts-per-parameter at smaller scale (~4
  params/fact), generous to GD (a wider MLP needs fewer epochs; the logits dominate the epoch cost,
  so width barely changes the time per epoch: 7.0 s at width 512, 7.2 s at 1024).
- ``vs_gd``: one smaller fact set; the construction at m' = d (exact by the definition of rho,
  separators included) against GD trained to 100% accuracy at its own capacity, the smallest width
  that stores the set (found by the capacity search; the paper's GD baseline is reported there).
  ``speedup`` = GD seconds at that width / construction seconds, measured in this one run;
  ``speedup_vs_search`` = the whole GD capacity search (what it takes to *find* that GD MLP, the
  paper's GD baseline protocol) / construction seconds. A wider
  GD MLP trains much faster (e.g. 2048 facts at d=64: width 64 in 210 epochs, 3.5 s), so the
  ratio only means something at GD's capacity.
"""

from __future__ import annotations

import argparse

import pandas as pd
import torch

from benchmarks.common import add_build_point_args, spherical_fact_set, timed
from factmlp.capacity import measure_capacity
from factmlp.constructions.encoder_decoder import build_encoder_decoder
from factmlp.decodability import cached_decodability
from factmlp.facts import FactSet, evaluate_mlp, storage_report
from factmlp.io import write_tsv
from factmlp.training import GD, GDSettings, train_gated_mlp


def bench_build(facts: FactSet, code_dim: int) -> dict:
    n_keys, n_values, d = facts.n_facts, facts.n_values, facts.d
    _, t_sep = timed(lambda: cached_decodability(facts.values))
    (mlp, _), t_build = timed(lambda: build_encoder_decoder(facts, code_dim, seed=0))
    idx = torch.randperm(n_keys, generator=torch.Generator().manual_seed(2))[:2000]  # sample (or all)
    with torch.no_grad():
        acc = storage_report(mlp(facts.keys[idx]), facts.values, facts.mapping[idx])["accuracy"]
    return {"case": "build", "n_keys": n_keys, "n_values": n_values, "d": d, "code_dim": code_dim,
            "hidden": mlp.hidden, "params": mlp.param_count(), "separators_s": round(t_sep, 3),
            "construction_s": round(t_build, 3), "total_s": round(t_sep + t_build, 3), "accuracy_sample": acc,
            "_total_s_raw": t_sep + t_build}


def bench_build_vs_gd(facts: FactSet, construction_s: float, width: int, budget_factor: float,
                      epochs: int, lr: float, lr_min: float) -> dict:
    """GD on the build's own fact set, stopped at 100% accuracy or budget_factor x construction_s."""
    budget = budget_factor * construction_s
    gd = GDSettings(epochs=epochs, lr=lr, lr_min=lr_min, log_every=25, max_seconds=budget)
    mlp, m = train_gated_mlp(facts, width, settings=gd, seed=0)
    reached = m["train_accuracy"] == 1.0
    return {"case": "build_vs_gd", "n_keys": facts.n_facts, "n_values": facts.n_values, "d": facts.d,
            "total_s": round(construction_s, 3), "gd_width": width, "gd_params": mlp.param_count(),
            "gd_lr": lr, "gd_epochs": m["epochs"], "gd_budget_s": round(budget, 3), "gd_s": round(m["seconds"], 3),
            "gd_accuracy": m["train_accuracy"], "gd_reached_100": reached,
            "speedup": round(m["seconds"] / construction_s, 3), "speedup_is_lower_bound": not reached}


def bench_vs_gd(n: int, d: int, epochs: int, lr: float, lr_min: float) -> dict:
    """GD at its own capacity: the smallest width that stores the set (the paper's GD baseline),
    trained to 100%, against the closed form at m' = d (exact by the definition of rho)."""
    facts = spherical_fact_set(n, n, d, tied=True)
    (mlp_c, _), t_c = timed(lambda: (cached_decodability(facts.values), build_encoder_decoder(facts, d, seed=0))[1])
    gd = GD(GDSettings(epochs=epochs, lr=lr, lr_min=lr_min, log_every=0))
    res, t_search = timed(lambda: measure_capacity(facts, gd, seed=0, rel_tol=0.0))
    at_min = next(p for p in res.probes if p.width == res.min_width) if res.found else None
    return {"case": "vs_gd", "n_keys": n, "n_values": n, "d": d, "code_dim": d, "hidden": mlp_c.hidden,
            "params": mlp_c.param_count(), "construction_s": round(t_c, 3),
            "accuracy_sample": evaluate_mlp(mlp_c, facts)["accuracy"], "gd_width": res.min_width,
            "gd_params": res.param_count, "gd_lr": lr, "gd_epochs": epochs,
            "gd_s": round(at_min.seconds, 3) if at_min else None,
            "gd_search_s": round(t_search, 3), "speedup": round(at_min.seconds / t_c, 3) if at_min else None,
            "speedup_vs_search": round(t_search / t_c, 3)}


def main(argv: list[str] | None = None) -> int | None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_build_point_args(ap)
    ap.add_argument("--code-dim", type=int, default=64)
    ap.add_argument("--gd-n", type=int, default=1024)
    ap.add_argument("--gd-d", type=int, default=64)
    ap.add_argument("--gd-epochs", type=int, default=10_000, help="paper: 10,000 (full-batch Adam)")
    ap.add_argument("--gd-lr", type=float, default=1e-3, help="paper: 1e-3, cosine to --gd-lr-min")
    ap.add_argument("--gd-lr-min", type=float, default=1e-6)
    ap.add_argument("--big-gd-width", type=int, default=1024, help="GD width on the build's fact set")
    ap.add_argument("--budget-factor", type=float, default=100.0,
                    help="GD on the build's fact set stops after this many construction times")
    ap.add_argument("--skip-build", action="store_true", help="only the comparison with GD")
    ap.add_argument("--skip-big-gd", action="store_true", help="no GD run on the build's fact set")
    ap.add_argument("--out", default="benchmarks/results/construction.tsv")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows: list[dict] = []
    if not args.skip_build:
        facts = spherical_fact_set(args.n_keys, args.n_values, args.d, tied=False)
        rows.append(bench_build(facts, args.code_dim))
        print({k: v for k, v in rows[-1].items() if not k.startswith("_")}, flush=True)
        if not args.skip_big_gd:
            rows.append(bench_build_vs_gd(facts, rows[-1].pop("_total_s_raw"), args.big_gd_width, args.budget_factor,
                                          args.gd_epochs, args.gd_lr, args.gd_lr_min))
            print(rows[-1], flush=True)
    rows.append(bench_vs_gd(args.gd_n, args.gd_d, args.gd_epochs, args.gd_lr, args.gd_lr_min))
    print(rows[-1], flush=True)
    rows = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
    write_tsv(pd.DataFrame(rows).convert_dtypes(), args.out)
