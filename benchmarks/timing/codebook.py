"""Benchmark: construction_codebook (claim B1's builder) build time and size, against the v2
Hebbian builders and GD on the same fact sets.

    python -m benchmarks codebook [--threads 2] [--out benchmarks/results/codebook.tsv]

Rows (one table):
- ``build``: the fact set of ``python -m benchmarks construction``'s ``build`` row: |K| = 1e5 keys, |V| = 4096
  values, d = 256, random map. The code dimension m' is found first on the value table alone
  (bisection on the codebook's storage margin, ``search_s``: the codebook decides storage, since
  the encoder is exact on every key it was fitted to); then the MLP is built at that m' and timed
  (``build_s`` = codebook fit + encoder of the kept MLP, issue 30's target < 10 s on 2 cores) with
  the cheapest bucket size whose key systems fit (b = d + 1, b = d, then d - 4, tried in that order
  with one shared codebook; rejected ones in ``rejected_variants``, the whole chain in
  ``all_variants_s``). Codebook initialised from the values (``init="values"``: the separators u* of
  4096 values cost ~10 s more). Storage is then checked on *every* key against every value in
  float64 (:func:`factmlp.facts.evaluate_mlp`; ``verify_s``, timed apart from the build: a full
  forward pass is O(|K| h d)).
  The paper's construction on this set: ``python -m benchmarks construction`` (m' = 64, 19.7 M params).
- The same row at an LLM's width on a GPU (issue 30: 10^6 facts at d = 1,024 built and checked on
  every key in < 60 s): the fact set is drawn on the CPU, moved to ``--device``, and the codebook
  fit, the encoder's solve and the parallel-gate check run there (float64)::

      python -m benchmarks codebook --device cuda --skip-same-set \
          --n-keys 1000000 --n-values 4096 --d 1024 --out OUT/codebook_1e6.tsv

  (m' searched on the value table first, ``search_s``; the dense check would be 10^6 x h x d, hours,
  so ``--dense-check`` is for the CPU sizes). Tested on a small case on the CPU
  (tests/test_benchmarks.py); not yet run on a GPU.
- ``same_set``: one smaller fact set (|K| = |V| = ``--n``, d = ``--d``, keys = values, permutation),
  on which every method's capacity search runs: construction_codebook, the three v2 builders
  (hebbian, hebbian_whitened, hebbian_data_dependent) and GD with the paper's protocol (full-batch
  Adam, lr 1e-3 cosine to 1e-6, 10,000 epochs). Per method: min size, params, params / GD's,
  the build (or training) time at the min size, and the whole search's time.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

from benchmarks.common import add_build_point_args, spherical_fact_set
from factmlp.capacity import gallop_bisect, measure_capacity
from factmlp.constructions.codebook import _FITS, ConstructionCodebookSettings, fit_codebook
from factmlp.constructions.encoder import EncoderFitError
from factmlp.facts import FactSet, evaluate_mlp
from factmlp.io import write_tsv
from factmlp.registry import get_method
from factmlp.training import GD, GDSettings


def bench_build(facts: FactSet, settings: ConstructionCodebookSettings, code_dim: int = 0, *,
                dense_check: bool = False) -> dict:
    anchors = torch.unique(facts.mapping)
    fits: dict[int, float] = {}

    def stores(m: int) -> bool:
        fits[m] = fit_codebook(facts.values, anchors, m, seed=0, settings=settings.codebook()).margin
        print(f"  m'={m}: codebook margin {fits[m]:.4f}", flush=True)
        return fits[m] > 0

    t0 = time.perf_counter()
    if code_dim:  # given: no search (search_s = 0)
        m = code_dim
    else:
        _, m = gallop_bisect(stores, lo=0, first=8, limit=facts.d, rel_tol=0.0, relative_to="hi")
    search_s = time.perf_counter() - t0
    if m is None:
        return {"case": "build", "n_keys": facts.n_facts, "n_values": facts.n_values, "d": facts.d, "found": False,
                "search_s": round(search_s, 3)}
    # the cheapest bucket size whose key systems fit (b = d is too ill-conditioned at |K| = 1e5, d = 256:
    # code error 4e-3), tried in order as a build at a given m' tries them: the codebook is fitted once
    # (by the first) and shared, each further variant costs one encoder
    tried = []
    _FITS.clear()
    chain0 = time.perf_counter()
    for label, variant in get_method("construction_codebook", **vars(settings)).variants(facts):
        t0 = time.perf_counter()
        try:
            mlp, info = variant.build(facts, m, seed=0)
        except EncoderFitError as exc:
            tried.append(f"{label}: {time.perf_counter() - t0:.1f}s, not exact")
            print(f"  {label}: {exc}", flush=True)
            continue
        encoder_s = time.perf_counter() - t0 - (0.0 if tried else info["codebook_seconds"])
        break
    else:
        raise RuntimeError(f"no bucket size fits: {tried}")
    chain_s = time.perf_counter() - chain0
    build_s = info["codebook_seconds"] + encoder_s  # what building the kept MLP alone costs
    t0 = time.perf_counter()
    report = evaluate_mlp(mlp, facts, parallel_gates=True)  # every key against every value, float64
    verify_s = time.perf_counter() - t0
    dense_s = None
    if dense_check:  # the same check by the dense forward pass (O(|K| h d)): equal accuracy and margin
        t0 = time.perf_counter()
        dense = evaluate_mlp(mlp, facts)
        dense_s = time.perf_counter() - t0
        if dense["n_correct"] != report["n_correct"] or abs(dense["min_margin"] - report["min_margin"]) > 1e-9:
            raise RuntimeError(f"parallel-gate and dense checks disagree: {report} vs {dense}")
    return {"case": "build", "n_keys": facts.n_facts, "n_values": facts.n_values, "d": facts.d, "found": True,
            "method": "construction_codebook", "size": m, "hidden": mlp.hidden, "params": mlp.param_count(),
            "build_s": round(build_s, 3), "codebook_s": round(info["codebook_seconds"], 3),
            "encoder_s": round(encoder_s, 3), "all_variants_s": round(chain_s, 3),
            "codebook_margin": info["codebook_margin"], "encoder_fit_error": info["encoder_fit_error"],
            "accuracy": report["accuracy"], "n_checked": report["n_facts"], "min_margin": report["min_margin"],
            "verify_s": round(verify_s, 3), "dense_verify_s": None if dense_s is None else round(dense_s, 3),
            "device": str(facts.keys.device), "search_s": round(search_s, 3), "variant": label,
            "rejected_variants": "; ".join(tried)}


def bench_same_set(n: int, d: int, gd_epochs: int) -> list[dict]:
    facts = spherical_fact_set(n, n, d, tied=True)
    methods = {name: get_method(name) for name in
               ("construction_codebook", "hebbian", "hebbian_whitened", "hebbian_data_dependent")}
    methods["gd"] = GD(GDSettings(epochs=gd_epochs, lr=1e-3, lr_min=1e-6, log_every=0))
    rows = []
    for name, method in methods.items():
        t0 = time.perf_counter()
        res = measure_capacity(facts, method, seed=0, width_min=1, width_max=1 << 15, rel_tol=0.05)
        search_s = time.perf_counter() - t0
        at_min = next((p for p in res.probes if p.width == res.min_width and p.success), None)
        rows.append({"case": "same_set", "n_keys": n, "n_values": n, "d": d, "method": name, "found": res.found,
                     "size": res.min_width, "variant": res.variant or "", "hidden": res.hidden,
                     "params": res.param_count, "min_margin": res.min_margin,
                     "build_s": round(at_min.seconds, 3) if at_min else None, "search_s": round(search_s, 3)})
        print(rows[-1], flush=True)
    gd = next((r["params"] for r in rows if r["method"] == "gd" and r["found"]), None)
    for r in rows:
        r["params_over_gd"] = round(r["params"] / gd, 2) if gd and r["params"] else None
    return rows


def main(argv: list[str] | None = None) -> int | None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_build_point_args(ap)
    ap.add_argument("--n", type=int, default=1024, help="facts of the same-set comparison")
    ap.add_argument("--same-d", type=int, default=64, help="d of the same-set comparison")
    ap.add_argument("--gd-epochs", type=int, default=10_000, help="paper: 10,000 (full-batch Adam)")
    ap.add_argument("--code-dim", type=int, default=0, help="m' of the build (0: searched on the codebook margin)")
    ap.add_argument("--loss", default=None, help="codebook loss (ce or hinge; default: the method's default)")
    ap.add_argument("--hinge-margin", type=float, default=None, help="codebook hinge margin (default: the method's)")
    ap.add_argument("--device", default="cpu",
                    help="where the build and its check run (cuda: the fact set is moved there)")
    ap.add_argument("--dense-check", action="store_true",
                    help="also check storage by the dense forward pass (O(|K| h d)) and compare")
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--skip-same-set", action="store_true")
    ap.add_argument("--out", default="benchmarks/results/codebook.tsv")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows: list[dict] = []
    if not args.skip_build:
        extra = {k: v for k, v in (("codebook_loss", args.loss), ("codebook_hinge_margin", args.hinge_margin))
                 if v is not None}
        settings = ConstructionCodebookSettings(codebook_init="values", **extra)
        facts = spherical_fact_set(args.n_keys, args.n_values, args.d, tied=False)
        if args.device != "cpu":
            facts = FactSet(facts.keys.to(args.device), facts.values.to(args.device), facts.mapping.to(args.device))
        rows.append(bench_build(facts, settings, args.code_dim, dense_check=args.dense_check))
        print(rows[-1], flush=True)
    if not args.skip_same_set:
        rows += bench_same_set(args.n, args.same_d, args.gd_epochs)
    write_tsv(pd.DataFrame(rows).convert_dtypes(), args.out)
