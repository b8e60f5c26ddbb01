"""GPU checks and a paper-scale capacity slice, in one short run (a lent GPU machine has minutes).

    python -m benchmarks gpu_checks --out DIR [--budget-s 420] [--skip-paper]

Writes ``DIR/gpu_checks.tsv`` (one row per check) and ``DIR/paper_slice.tsv`` (capacity rows of the
paper-scale slice, in the columns of results/tables/capacity.tsv that the claims read), and prints
both. Library calls only (no Snakemake), so it runs on a machine that has PyTorch but not the
workflow's packages. Checks:

- ``gd_cuda``: the GD baseline's capacity search on CUDA (the paper's protocol: full-batch Adam,
  lr 1e-3 cosine to 1e-6, 10,000 epochs) on d = 64, |K| = 512, then one training at the found
  width on CUDA and on the CPU (same seed): epochs, float64 storage accuracy, seconds. float32 GD
  on two devices need not end alike (the reductions differ), so both are reported, not asserted.
- ``gd_cuda_determinism``: two CUDA trainings with one seed at one width, with
  ``torch.use_deterministic_algorithms(True)``: max |weight difference| (0 = bitwise repeatable).
- ``usability_cuda``: the Transformer usability protocol (attention training, MLP swap) of one
  construction MLP on CUDA and on the CPU: recall values and seconds.
- paper slice (``--skip-paper`` skips it): capacity of gd, gd_encdec (CUDA), construction,
  construction_jl and ntk (CPU, float64) on the paper's spherical point d = 128, |K| = d^2/8 = 2048.

Each step checks the remaining ``--budget-s`` first and is skipped (status ``skipped``) if it
would start after it.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pandas as pd
import torch

from benchmarks.common import pipeline_fact_set
from factmlp.capacity import measure_capacity
from factmlp.facts import FactSet, evaluate_mlp
from factmlp.io import write_tsv
from factmlp.registry import get_method
from factmlp.tables import settings_json
from factmlp.training import GDSettings, train_gated_mlp

PAPER_GD = {"epochs": 10000, "lr": 1e-3, "lr_min": 1e-6, "log_every": 0}
# settings of the paper-slice methods (config/config.yaml's, where it has some) and their size cap
CODEBOOK = {"constant_neurons": 1, "bucket_slacks": [0, 4], "fewer_buckets": 1, "codebook_temperature": 0.01,
            "codebook_steps": 1500, "codebook_lr": 0.05}
SLICE_METHODS = ("construction", "construction_jl", "construction_codebook", "hebbian", "hebbian_whitened",
                 "hebbian_data_dependent", "ntk", "gd", "gd_encdec")


def capacity_row(facts: FactSet, method: str, settings: dict, *, width_max: int, references: dict) -> dict:
    """One capacity row; ``references``: rows by method of this slice so far (gd_encdec* are built at
    the construction's m' and buckets, so the construction must come first)."""
    t = time.perf_counter()
    m = get_method(method, **settings)
    if m.reference is not None:
        m = m.pinned(facts, references[m.reference])
    r = measure_capacity(facts, m, seed=0, width_max=width_max)
    return {"method": method, "d": facts.d, "n_facts": facts.n_facts, "found": r.found, "min_width": r.min_width,
            "hidden": r.hidden, "code_dim": r.code_dim, "settings": settings_json(vars(m.settings)),
            "param_count": r.param_count, "max_probed_params": max(p.param_count for p in r.probes),
            "variant": r.variant, "n_probes": r.n_probes, "seconds": round(time.perf_counter() - t, 2),
            "device": settings.get("device", "cpu")}


def main(argv: list[str] | None = None) -> int | None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--budget-s", type=float, default=420.0)
    ap.add_argument("--skip-paper", action="store_true")
    ap.add_argument("--paper-d", type=int, default=128, help="d of the paper slice (|K| = d^2/8)")
    ap.add_argument("--skip-checks", action="store_true", help="the paper slice only")
    ap.add_argument("--methods", default=",".join(SLICE_METHODS),
                    help="comma-separated methods of the paper slice, in this order "
                         f"(known: {', '.join(SLICE_METHODS)})")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    left = lambda: args.budget_s - (time.perf_counter() - t0)  # noqa: E731
    cuda = torch.cuda.is_available()
    env = {"torch": torch.__version__, "cuda": torch.version.cuda,
           "gpu": torch.cuda.get_device_name(0) if cuda else "none", "cpu_threads": torch.get_num_threads()}
    print("environment:", env, flush=True)
    checks: list[dict] = [{"check": "environment", "status": "ok", "detail": str(env)}]

    def step(name, fn, need_s):
        if not cuda and name != "paper_slice":
            checks.append({"check": name, "status": "skipped", "detail": "no CUDA device"})
            return None
        if left() < need_s:
            checks.append({"check": name, "status": "skipped", "detail": f"{left():.0f}s left < {need_s}s"})
            return None
        t = time.perf_counter()
        try:
            detail = fn()
            checks.append({"check": name, "status": "ok", "detail": detail,
                           "seconds": round(time.perf_counter() - t, 2)})
        except Exception as exc:  # a failed check is a result, not a crash of the whole run
            checks.append({"check": name, "status": "error", "detail": repr(exc)[:500],
                           "seconds": round(time.perf_counter() - t, 2)})
        print(checks[-1], flush=True)

    small = pipeline_fact_set(64, 512)

    def gd_cuda():
        r = capacity_row(small, "gd", {**PAPER_GD, "device": "cuda"}, width_max=4096, references={})
        parts = [f"capacity search on cuda: width {r['min_width']} params {r['param_count']} "
                 f"({r['n_probes']} probes, {r['seconds']}s)"]
        for dev in ("cuda", "cpu"):  # one training at the found width on each device
            t = time.perf_counter()
            mlp, m = train_gated_mlp(small, r["min_width"], settings=GDSettings(**PAPER_GD, device=dev), seed=0)
            acc = evaluate_mlp(mlp, small)["accuracy"]
            parts.append(f"{dev} at width {r['min_width']}: {m['epochs']} epochs, storage {acc:.4f}, "
                         f"{time.perf_counter() - t:.1f}s")
        return "; ".join(parts)

    def determinism():
        torch.use_deterministic_algorithms(True)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        try:
            s = GDSettings(**{**PAPER_GD, "epochs": 2000}, device="cuda")
            a, ma = train_gated_mlp(small, 16, settings=s, seed=3)
            b, mb = train_gated_mlp(small, 16, settings=s, seed=3)
            diff = max(float((pa - pb).abs().max()) for pa, pb in zip(a.parameters(), b.parameters()))
        finally:
            torch.use_deterministic_algorithms(False)
        return f"width 16, 2000 epochs, seed 3: max |dW| = {diff:.3e}; epochs {ma['epochs']}/{mb['epochs']}, " \
               f"train acc {ma['train_accuracy']:.4f}/{mb['train_accuracy']:.4f}"

    def usability():
        from factmlp.transformer import AttentionSettings, RecallTask
        from factmlp.usability import UsabilitySettings, measure_usability

        facts = pipeline_fact_set(32, 128)
        method = get_method("construction")
        cap = measure_capacity(facts, method, seed=0)
        parts = []
        for dev in ("cuda", "cpu"):
            t = time.perf_counter()
            rows = measure_usability(facts, method, cap.min_width, seed=0, task=RecallTask(n_junk=4),
                                     train=AttentionSettings(device=dev),
                                     settings=UsabilitySettings(size_multipliers=(1.0, 2.0)))
            vals = ", ".join(f"m'={r['size']} {r['schedule']} {r['usability']:.3f}" for r in rows)
            parts.append(f"{dev} ({time.perf_counter() - t:.1f}s): {vals}")
        return "; ".join(parts)

    if not args.skip_checks:
        step("gd_cuda", gd_cuda, 60)
        step("gd_cuda_determinism", determinism, 30)
        step("usability_cuda", usability, 60)

    slice_rows = []
    if not args.skip_paper:
        pd_ = args.paper_d
        paper = pipeline_fact_set(pd_, pd_ * pd_ // 8)
        gd = {**PAPER_GD, "device": "cuda" if cuda else "cpu"}
        known = {"construction": ({}, pd_), "construction_jl": ({}, 8 * pd_), "construction_codebook": (CODEBOOK, pd_),
                 "hebbian": ({}, 65536), "hebbian_whitened": ({}, 65536), "hebbian_data_dependent": ({}, 65536),
                 "ntk": ({}, 65536), "gd": (gd, 65536), "gd_encdec": (gd, 65536), "gd_encdec_free": (gd, 65536)}
        names = [m for m in args.methods.split(",") if m]
        unknown = sorted(set(names) - set(known))
        if unknown:
            raise SystemExit(f"--methods: unknown {', '.join(unknown)}; known: {', '.join(known)}")
        for method in names:
            settings, wmax = known[method]
            if left() < 45:
                checks.append({"check": f"paper_slice {method}", "status": "skipped", "detail": f"{left():.0f}s left"})
                continue
            try:
                slice_rows.append(capacity_row(paper, method, settings, width_max=wmax,
                                               references={r["method"]: r for r in slice_rows}))
                print(slice_rows[-1], flush=True)
                write_tsv(pd.DataFrame(slice_rows), out / "paper_slice.tsv")  # kept if cut off
            except Exception as exc:
                checks.append({"check": f"paper_slice {method}", "status": "error", "detail": repr(exc)[:500]})
    write_tsv(pd.DataFrame(checks), out / "gpu_checks.tsv")
    if slice_rows:
        write_tsv(pd.DataFrame(slice_rows), out / "paper_slice.tsv")
    print(pd.DataFrame(checks).to_string())
    print(pd.DataFrame(slice_rows).to_string())
    print(f"total {time.perf_counter() - t0:.0f}s")
