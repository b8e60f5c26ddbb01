"""Storage efficiency per method: one markdown table from a finished run's tables (issue 30).

Per (method, point) of one capacity sweep: the smallest storing MLP's parameters, bits stored per
parameter (float), the best quantised format (most bits per weight bit among those that stored
every fact, from results/tables/quantized.tsv when the run has it) with its bits per weight bit,
the ratio of parameters to GD's, and the build time at the minimum (the probe at the minimum size:
one build or one GD training, not the search) beside GD's in the same run. Medians over seeds;
``n`` counts the seeds that stored.

Usage: python -m benchmarks efficiency_table RESULTS_DIR [--sweep scaling] [--d-min 32] [--quantized TSV]
       [--paper TSV ...] [--out FILE.md]
RESULTS_DIR holds tables/capacity.tsv and tables/capacity_probes.tsv (and tables/quantized.tsv,
or give ``--quantized`` a quantized.tsv of the same fact sets from another run): a run's results/
or a snapshot in docs/results/<scale>/.

``--paper`` appends the rows of a paper-slice table (``benchmarks/timing/gpu_checks.py``'s
paper_slice*.tsv: one seed, a permutation of |K| = |V| values) after the run's rows, with ``scale``
"paper": params, bits per parameter and the ratio to that slice's GD; their times are whole
capacity searches on the slice's machine (``search s``, GD's beside it), not one build.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from factmlp.tables import as_bool

JOB = ["method", "family", "d", "n_facts", "seed"]


def build_seconds(cap: pd.DataFrame, probes: pd.DataFrame) -> pd.Series:
    """Seconds of the probe at each capacity row's minimum (its size and variant): one build."""
    p = probes[as_bool(probes["success"])].copy()
    p["variant"] = p["variant"].fillna("").astype(str)
    p = p.rename(columns={"width": "min_width"})[[*JOB, "variant", "min_width", "seconds"]]
    c = cap.copy()
    c["variant"] = c["variant"].fillna("").astype(str)
    merged = c[[*JOB, "variant", "min_width"]].merge(p.drop_duplicates([*JOB, "variant", "min_width"]),
                                                      on=[*JOB, "variant", "min_width"], how="left")
    return pd.Series(merged["seconds"].to_numpy(), index=c.index)


def efficiency_table(cap: pd.DataFrame, probes: pd.DataFrame, quant: pd.DataFrame | None, *, sweep: str,
                     d_min: int = 0, reference: str = "gd") -> pd.DataFrame:
    """The table's rows (see the module docstring); raises naming what is missing."""
    for col in ("sweep", "found", "param_count", "bits_per_param", "min_width", "variant"):
        if col not in cap:
            raise ValueError(f"capacity table has no column {col!r}")
    rows = cap[(cap["sweep"] == sweep) & as_bool(cap["found"]) & (cap["d"] >= d_min)].copy()
    if rows.empty:
        raise ValueError(f"no storing rows in sweep {sweep!r} with d >= {d_min}")
    rows["build_s"] = build_seconds(rows, probes)
    if quant is not None and len(quant):
        q = quant[as_bool(quant["found"])]
        q = q.loc[q.groupby(JOB)["bits_per_weight_bit"].idxmax(), [*JOB, "format", "bits_per_weight_bit"]]
        rows = rows.merge(q.rename(columns={"format": "best_format", "bits_per_weight_bit": "best_bpwb"}),
                          on=JOB, how="left")
    ref = rows[rows["method"] == reference].groupby(["d", "n_facts", "seed"])[["param_count", "build_s"]]
    ref = ref.first().rename(columns={"param_count": "ref_params", "build_s": "ref_build_s"}).reset_index()
    rows = rows.merge(ref, on=["d", "n_facts", "seed"], how="left")
    rows["ratio"] = rows["param_count"] / rows["ref_params"]
    agg = {"n": ("seed", "size"), "params": ("param_count", "median"),
           "bits_per_param": ("bits_per_param", "median"), "ratio_to_gd": ("ratio", "median"),
           "build_s": ("build_s", "median"), "gd_build_s": ("ref_build_s", "median")}
    if "best_bpwb" in rows:
        agg["best_format"] = ("best_format", lambda s: s.mode().iloc[0] if s.notna().any() else "")
        agg["best_bits_per_weight_bit"] = ("best_bpwb", "median")
    out = rows.groupby(["d", "n_facts", "method"], sort=True).agg(**agg).reset_index()
    return out.sort_values(["d", "n_facts", "params"]).reset_index(drop=True)


def paper_rows(paper: pd.DataFrame, reference: str = "gd") -> pd.DataFrame:
    """Rows of a paper-slice table in :func:`efficiency_table`'s columns (scale "paper")."""
    from factmlp.bits import storage_bits

    p = paper[as_bool(paper["found"])].copy()
    ref = p[p["method"] == reference].set_index(["d", "n_facts"])
    out = []
    for _, r in p.iterrows():
        key = (r["d"], r["n_facts"])
        gd = ref.loc[key] if key in ref.index else None
        bits = storage_bits(int(r["n_facts"]), int(r["n_facts"]), "permutation", int(r["param_count"]))
        out.append({"scale": "paper", "d": int(r["d"]), "n_facts": int(r["n_facts"]), "method": r["method"], "n": 1,
                    "params": int(r["param_count"]), "bits_per_param": bits["bits_per_param"],
                    "ratio_to_gd": r["param_count"] / gd["param_count"] if gd is not None else float("nan"),
                    "search_s": float(r["seconds"]),
                    "gd_search_s": float(gd["seconds"]) if gd is not None else float("nan")})
    return pd.DataFrame(out).sort_values(["d", "n_facts", "params"]).reset_index(drop=True)


def to_markdown(table: pd.DataFrame) -> str:
    cols = {"scale": "scale", "d": "d", "n_facts": "\\|K\\|", "method": "method", "n": "seeds", "params": "params",
            "bits_per_param": "bits/param", "best_format": "best quantised", "best_bits_per_weight_bit":
            "its bits/weight bit", "ratio_to_gd": "× GD", "build_s": "build s", "gd_build_s": "GD s",
            "search_s": "search s", "gd_search_s": "GD search s"}
    cols = {k: v for k, v in cols.items() if k in table}
    fmt = {"params": "{:,.0f}", "bits_per_param": "{:.3f}", "best_bits_per_weight_bit": "{:.4f}",
           "ratio_to_gd": "{:.2f}", "build_s": "{:.2f}", "gd_build_s": "{:.2f}", "search_s": "{:.1f}",
           "gd_search_s": "{:.1f}"}
    lines = ["| " + " | ".join(cols.values()) + " |", "|" + "---|" * len(cols)]
    for _, r in table.iterrows():
        cells = []
        for k in cols:
            v = r[k]
            cells.append("–" if v is None or (isinstance(v, float) and v != v) or v == ""
                         else fmt.get(k, "{}").format(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", type=Path)
    ap.add_argument("--sweep", default="scaling")
    ap.add_argument("--d-min", type=int, default=0)
    ap.add_argument("--quantized", type=Path, help="quantized.tsv to use (default RESULTS_DIR/tables/quantized.tsv)")
    ap.add_argument("--paper", type=Path, action="append", default=[],
                    help="a paper-slice table (paper_slice*.tsv) whose rows follow the run's")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    tables = args.results / "tables"
    for name in ("capacity.tsv", "capacity_probes.tsv"):
        if not (tables / name).is_file():
            print(f"efficiency_table: {tables / name}: no such file", file=sys.stderr)
            return 1
    cap = pd.read_csv(tables / "capacity.tsv", sep="\t")
    if "bits_per_param" not in cap:  # a table from before factmlp.bits: count the bits from the run's mapping
        import yaml

        from factmlp.bits import add_bits_columns

        cfg = args.results / "config.yaml"
        if not cfg.is_file():
            print(f"efficiency_table: {tables / 'capacity.tsv'} has no bits columns and {cfg} (its facts.mapping) is "
                  "missing", file=sys.stderr)
            return 1
        cap = add_bits_columns(cap, (yaml.safe_load(cfg.read_text()).get("facts") or {}).get("mapping", "permutation"))
    probes = pd.read_csv(tables / "capacity_probes.tsv", sep="\t")
    qpath = args.quantized or tables / "quantized.tsv"
    if args.quantized and not qpath.is_file():
        print(f"efficiency_table: {qpath}: no such file", file=sys.stderr)
        return 1
    quant = pd.read_csv(qpath, sep="\t") if qpath.is_file() else None
    table = efficiency_table(cap, probes, quant, sweep=args.sweep, d_min=args.d_min)
    if args.paper:
        for path in args.paper:
            if not path.is_file():
                print(f"efficiency_table: {path}: no such file", file=sys.stderr)
                return 1
        table = pd.concat([table.assign(scale=args.results.name or "run"),
                           *(paper_rows(pd.read_csv(path, sep="\t")) for path in args.paper)], ignore_index=True)
    text = to_markdown(table)
    if args.out:
        tmp = args.out.with_suffix(args.out.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(args.out)
    print(text, end="")
    return 0
