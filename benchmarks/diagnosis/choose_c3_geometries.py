"""Benchmark: rho of a grid of candidate value geometries, and claim C3's design chosen by rho alone.

    python -m benchmarks choose_c3_geometries --d 64 --n-facts 512 --seeds 0 1 2 \\
        --rho-floor 0.125 --out benchmarks/results/c3_geometries_d64_n512.tsv
    python -m benchmarks choose_c3_geometries --d 32 --n-facts 128 --config config/config.yaml \\
        --rho-floor 0.135 --out benchmarks/results/c3_geometries_d32_n128.tsv
    python -m benchmarks choose_c3_geometries --from-table <an --out table> --rho-floor 0.1 ...

Every candidate is an embedding family with untied spherical keys (``keys: spherical``), named as
in config/*.yaml (``spike16u-v``: spike, beta 16, normalize false). Each (candidate, seed) fact set is
drawn exactly as the rule ``measure_fact_set`` draws it (:func:`factmlp.facts.draw_fact_set`, with
the ``facts`` and ``decodability`` settings of ``--config``), so each rho here is the number the
pipeline will measure for that family, point and seed. :func:`factmlp.geometries.choose_geometries`
then picks the design from the median rho over seeds (``--from-table`` picks again from a table
written before, e.g. with another ``--rho-floor``, without measuring).

``--rho-floor``: candidates with rho <= floor at some seed are not eligible. Set it, before the
capacity run, just above the rho of the geometries that the deciding construction (construction_jl,
m' <= code_dim_max_factor * d) cannot store at some seed: a search that stores nothing drops that
(geometry, seed) from C3's fit. At d = 64, |K| = 512 (medium: m' <= 512), spike24u-v (rho 0.097 at
seed 0) stores nothing and spike16u-v (rho >= 0.141) stores at m' 384-432 on seeds 0-2: 0.125.
At d = 32, |K| = 128 (smoke: m' <= 256), spike16u-v (0.10) and minilmu-v (0.11, 2 of 3 seeds)
store nothing, spike12u-v (0.131) needs m' = 256 at seed 0, spike32-v (>= 0.140) <= 216: 0.135.

Writes one row per (candidate, seed): the family's settings, rho (the minimum over values) with its
distribution over values, the seconds of that rho computation, the candidate's median rho, x =
log(1/rho_med^2) and whether it was chosen. Prints the spread of the chosen set and the
``embeddings.families`` entries of the chosen families.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch
import yaml

from benchmarks.common import ROOT
from factmlp.config import fact_set_shape, load_schema
from factmlp.decodability import decodability, summarize
from factmlp.facts import draw_fact_set
from factmlp.geometries import choose_geometries, log_inv_rho2, median_rho, spread
from factmlp.io import write_tsv

# The candidate grid. spike beta = 0 is left out: it draws the spherical table itself (spike's
# extra direction u is drawn after the rows); spherical has no normalize variant (unit rows either
# way). Unnormalised spike rows lie on an ellipsoid and unnormalised kappa rows are a linear map of
# Gaussian rows: both keep anisotropic norms and reach the low-rho end, where the spike grid is
# denser (12, 24). Normalised kappa rows stay within 0.2 of spherical in log(1/rho^2) (d = 32:
# kappa 2-256; d = 64: 16, 256): two of them show it.
SPIKE_BETAS = (0.5, 1.0, 2.0, 4.0, 8.0, 12.0, 16.0, 24.0, 32.0)
KAPPAS = (2.0, 4.0, 16.0, 64.0, 256.0)
KAPPAS_NORMALIZED = (16.0, 256.0)


def family_name(spec: dict) -> str:
    """The config name of a family entry: kind, its parameter (%g), ``u`` when not normalised, ``-v``
    for untied spherical keys (``{kind: spike, beta: 16.0, normalize: false, keys: spherical}`` ->
    ``spike16u-v``)."""
    param = next((f"{spec[p]:g}" for p in ("beta", "kappa") if p in spec), "")
    unnorm = "u" if spec.get("normalize", True) is False else ""
    keys = "-v" if spec.get("keys", "tied") == "spherical" else ""
    return f"{spec['kind']}{param}{unnorm}{keys}"


def candidate_grid() -> dict[str, dict]:
    """Name -> config entry of every candidate (keys: spherical), in the order written to the table."""
    specs = [{"kind": "spherical"}]
    for norm in (True, False):
        flag = {} if norm else {"normalize": False}
        specs += [{"kind": "spike", "beta": b} | flag for b in SPIKE_BETAS]
        specs += [{"kind": "kappa", "kappa": k} | flag for k in (KAPPAS_NORMALIZED if norm else KAPPAS)]
        specs.append({"kind": "minilm"} | flag)
    return {family_name(s | {"keys": "spherical"}): s | {"keys": "spherical"} for s in specs}


def measure_candidates(families: dict[str, dict], *, d: int, n_facts: int, seeds: list[int], facts: dict,
                       dec: dict) -> pd.DataFrame:
    """One row per (family, seed): the fact set ``measure_fact_set`` would draw for the wildcards
    {family, d, n_facts, seed} under the config sections ``facts`` and ``decodability`` (``dec``), and
    :func:`summarize` of its rho (column ``rho``: the minimum over values), with the seconds it took."""
    rows = []
    for name, spec in families.items():
        for seed in seeds:
            tied, n_values = fact_set_shape(n_facts, spec, tied=facts["tied"], values_per_key=facts["values_per_key"])
            fs = draw_fact_set(spec, n_facts, n_values, d, tied=tied, mapping=facts["mapping"], seed=seed)
            t0 = time.perf_counter()
            result = decodability(fs.values, batch_size=dec["batch_size"], tol=dec["tol"],
                                  min_distance=dec["min_distance"], max_seconds=dec["max_seconds"])
            secs = time.perf_counter() - t0
            spec_cols = {"kind": spec["kind"], "beta": spec.get("beta"), "kappa": spec.get("kappa"),
                         "normalize": spec.get("normalize", True), "keys": spec.get("keys", "tied")}
            rows.append({"family": name, **spec_cols, "d": d, "n_facts": n_facts, "n_values": n_values,
                         "seed": seed, **summarize(result), "seconds": round(secs, 3)})
    return pd.DataFrame(rows)


def config_sections(path: str | Path) -> tuple[dict, dict]:
    """The ``facts`` and ``decodability`` sections of the config at ``path``, the schema's defaults filled
    in: all that drawing and measuring a fact set's rho reads (only these two sections are read, so
    that another section being edited, or renamed by a newer schema, does not stop this script)."""
    config = yaml.safe_load(Path(path).read_text()) or {}
    props = load_schema(ROOT / "workflow" / "schemas" / "config.schema.yaml")["properties"]
    sections = []
    for key in ("facts", "decodability"):
        defaults = {k: v["default"] for k, v in props[key]["properties"].items() if "default" in v}
        unknown = set(config.get(key) or {}) - set(defaults)
        if unknown:
            raise ValueError(f"{path}: unknown key(s) {sorted(unknown)} in {key}")
        sections.append(defaults | (config.get(key) or {}))
    return sections[0], sections[1]


def config_snippet(families: dict[str, dict], chosen: list[str]) -> str:
    """The ``embeddings.families`` entries of ``chosen``, one flow mapping per line, as in config/*.yaml."""
    lines = []
    for name in chosen:
        body = yaml.safe_dump(families[name], default_flow_style=True, sort_keys=False, width=1000).strip()
        lines.append(f"    {name}: {body}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int | None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--n-facts", type=int, default=512)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--k-min", type=int, default=8, help="fewest geometries to choose (C3: 8)")
    ap.add_argument("--rho-floor", type=float, default=0.0,
                    help="eligible iff rho > this at every seed (choose_geometries; 0: the decodable ones)")
    ap.add_argument("--candidates", nargs="+", help="a subset of the grid, by name (default: all)")
    ap.add_argument("--config", default=str(ROOT / "config" / "medium.yaml"),
                    help="config whose facts and decodability settings draw and measure the sets")
    ap.add_argument("--from-table", help="choose from this script's earlier --out table instead of measuring")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="benchmarks/results/c3_geometries.tsv")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    grid = candidate_grid()
    unknown = sorted(set(args.candidates or []) - set(grid))
    if unknown:
        ap.error(f"unknown candidate(s) {unknown}; the grid has {', '.join(grid)}")
    families = {n: s for n, s in grid.items() if not args.candidates or n in args.candidates}
    if args.from_table:
        table = pd.read_csv(args.from_table, sep="\t")
        table = table[table["family"].isin(families)].drop(columns=["rho_med", "x", "eligible", "chosen"],
                                                            errors="ignore")
    else:
        facts, dec = config_sections(args.config)
        t0 = time.perf_counter()
        table = measure_candidates(families, d=args.d, n_facts=args.n_facts, seeds=args.seeds, facts=facts, dec=dec)
        print(f"rho of {len(families)} candidates x {len(args.seeds)} seeds at d={args.d} |K|={args.n_facts}: "
              f"{time.perf_counter() - t0:.1f} s ({args.threads} thread(s))", flush=True)
    med = median_rho(table)
    worst = table.groupby("family")["rho"].min()
    table = table.assign(rho_med=table["family"].map(med), x=table["family"].map(log_inv_rho2(med)),
                         eligible=table["family"].map(worst > args.rho_floor), chosen=False)
    write_tsv(table, args.out)  # the measurements, whether or not a design can be chosen from them
    per_family = table.groupby("family").agg(rho_med=("rho_med", "first"), rho_min=("rho", "min"),
                                             rho_max=("rho", "max"), x=("x", "first"),
                                             eligible=("eligible", "first"), seconds=("seconds", "median"))
    print(per_family.sort_values("x").to_string(float_format=lambda v: f"{v:.4f}"), flush=True)
    try:
        chosen = choose_geometries(table, k_min=args.k_min, rho_floor=args.rho_floor)
    except ValueError as exc:
        raise SystemExit(f"no design: {exc}") from None
    table["chosen"] = table["family"].isin(chosen)
    write_tsv(table, args.out)
    s = spread(per_family.loc[chosen, "x"])
    print(f"chosen {s['n']}: log(1/rho^2) {s['x_min']:.3f}..{s['x_max']:.3f} (range {s['span']:.3f}), widest gap "
          f"{s['widest_gap']:.3f} = {s['gap_fraction']:.3f} of the range ({s['gap_between'][0]} - "
          f"{s['gap_between'][1]}), max leverage {s['max_leverage']:.3f}")
    print("embeddings.families entries:\n" + config_snippet(families, chosen))
