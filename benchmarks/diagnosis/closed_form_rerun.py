"""Re-measure closed-form builders on a committed snapshot's joint sweep and re-decide claim B1.

    python -m benchmarks closed_form_rerun --config config/medium.yaml \
        --snapshot docs/results/medium [--methods construction_codebook,hebbian,...] [--out DIR]

Closed-form searches take seconds to minutes, GD's take hours: when a closed-form method is added
after a snapshot was run (``construction_codebook`` and the v2 builders came after the medium
snapshot), this draws the same fact sets (same families, points and seeds of the config's
``scaling`` sweep, the pipeline's :func:`factmlp.facts.draw_fact_set` and seeds), searches the
methods with the config's settings and search bounds, adds their rows to the snapshot's
capacity table (GD's and every other row kept), and writes ``DIR/capacity.tsv``,
``DIR/closed_form_vs_gd.tsv`` and ``DIR/claim_b1.tsv`` as the pipeline would. Methods default to
the sweep's closed-form and v2 methods that the snapshot lacks.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch
import yaml

from factmlp.capacity import capacity_tables
from factmlp.claims.capacity import closed_form_claims, closed_form_points
from factmlp.claims.common import SWEEP_NAMES, is_closed_form, is_v2_builder
from factmlp.config import fact_set_shape
from factmlp.facts import draw_fact_set
from factmlp.io import write_tsv


def main(argv: list[str] | None = None) -> int | None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--snapshot", required=True, help="a snapshot folder with tables/capacity.tsv")
    ap.add_argument("--methods", default="", help="comma-separated; default: the sweep's closed-form and v2 "
                                                   "methods missing from the snapshot")
    ap.add_argument("--out", default="benchmarks/results/closed_form_rerun")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = yaml.safe_load(open(args.config))
    cap_path = Path(args.snapshot) / "tables" / "capacity.tsv"
    if not cap_path.exists():
        raise SystemExit(f"--snapshot: {cap_path} not found")
    cap = pd.read_csv(cap_path, sep="\t")
    name = SWEEP_NAMES["scaling"]
    sweep = next((s for s in cfg["capacity"]["sweeps"] if s["name"] == name), None)
    if sweep is None:
        raise SystemExit(f"--config: no capacity sweep named {name!r} in {args.config}")
    have = set(cap.loc[cap["sweep"] == name, "method"])
    methods = [m for m in args.methods.split(",") if m] or [
        m for m in sweep["methods"] if (is_closed_form(m) or is_v2_builder(m)) and m not in have]
    bad = [m for m in methods if not (is_closed_form(m) or is_v2_builder(m))]
    if bad:
        raise SystemExit(f"--methods: {', '.join(bad)} not closed-form (construction*, hebbian*)")
    facts_cfg, search = cfg.get("facts", {}), cfg["capacity"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for family in sweep["families"]:
        fam = dict(cfg["embeddings"]["families"][family])
        mapping = facts_cfg.get("mapping", "permutation")
        for point in sweep["points"]:
            d, n = int(point["d"]), int(point["n_facts"])
            tied, n_values = fact_set_shape(n, fam, tied=facts_cfg.get("tied", True),
                                            values_per_key=facts_cfg.get("values_per_key", 1.0))
            for seed in sweep["seeds"]:
                facts = draw_fact_set(fam, n, n_values, d, tied=tied, mapping=mapping, seed=int(seed),
                                      meta={"family": family})
                t = time.perf_counter()
                summ, _ = capacity_tables(facts, {m: dict(cfg.get("methods", {}).get(m) or {}) for m in methods},
                                          family=family, seed=int(seed), width_min=search.get("width_min", 1),
                                          width_max=search.get("width_max", 65536),
                                          rel_tol=search.get("rel_tol", 0.05))
                for r in summ:
                    rows.append({**r, "sweep": name})
                    print(f"{family} d={d} n={n} s={seed} {r['method']}: {r['param_count']} params "
                          f"({r.get('variant', '')}), {time.perf_counter() - t:.1f}s", flush=True)
    new = pd.DataFrame(rows)
    merged = pd.concat([cap, new.reindex(columns=cap.columns)], ignore_index=True)
    write_tsv(merged, out / "capacity.tsv")
    write_tsv(closed_form_points(merged, sweep=name, d_min=32), out / "closed_form_vs_gd.tsv")
    claim = closed_form_claims(merged, scale=str(cfg.get("scale", "")))
    write_tsv(claim, out / "claim_b1.tsv")
    print(closed_form_points(merged, sweep=name).round(2).to_string())
    print(claim.to_string())
