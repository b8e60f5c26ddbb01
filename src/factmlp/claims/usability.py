"""Claims C6 and C7 from the usability table (results/tables/usability.tsv), revision 3: constructed
MLPs are usable inside a Transformer (both schedules), and the Lipschitz constant predicts usability
within each (method, whitening) series of the paper's construction."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .common import CLAIM_COLUMNS, as_numeric, claim_row, is_paper_construction, na_row, spearman

__all__ = ["usability_claims", "c7_series"]

_SET = ["family", "d", "n_facts"]


def usability_claims(usab: pd.DataFrame | None, *, usable_at: float, scale: str,
                     designs: dict | None = None) -> pd.DataFrame:
    """Claims C6-C7 from the usability table (None: the stage did not run at this scale).

    C6 (design: the usability sweep ``designs['C6']['sweep']``): for each fact set and each
    schedule (insert_then_train: attention trained with MLP_1, MLP_2 swapped in; and
    pretrain_then_insert: attention pre-trained on an identity MLP), the median recall over seeds
    at each size of a freshly built ``construction`` MLP; the best size's median must reach
    ``usable_at`` on every fact set under both schedules. Reading of "median recall >= 0.99 at some
    size under both schedules" chosen before the run: per fact set, because a geometry on which
    the construction is unusable refutes "constructed MLPs are usable" whatever the others do.

    C7 (design: ``designs['C7']``): :func:`c7_series`; pass if the median over series of the
    per-series Spearman (itself the median over seeds) is <= -0.7 and no series is > 0. Reported
    beside: the value pooled over every method of the table (revision 2's statistic), the analytic
    bound's correlation and the margin predictor.
    """
    from .design import DEFAULT_DESIGNS

    des = {c: {**DEFAULT_DESIGNS[c], **((designs or {}).get(c) or {})} for c in ("C6", "C7")}
    s6 = ("C6", "Constructed MLPs are >=99% usable inside a 1-layer Transformer", "Dugan Fig 3a", ">= 0.99 recall")
    s7 = ("C7", "Capacity trades against usability; the Lipschitz constant predicts usability", "Dugan Fig 3b, 3c",
          "Spearman <= -0.7")
    ev = "results/tables/usability.tsv; results/figures/usability.pdf"
    if usab is None or usab.empty:
        why = "usability stage not in this config (usability.sweeps is empty)"
        return pd.DataFrame([na_row(*s6, scale, why), na_row(*s7, scale, why)], columns=CLAIM_COLUMNS)
    ok = usab[usab["status"] == "ok"].drop_duplicates(
        subset=["method", "family", "d", "n_facts", "seed", "size", "schedule"]
        + (["sweep"] if "sweep" in usab else []))
    return pd.DataFrame([_c6(ok, usable_at, scale, des["C6"], s6, ev), _c7(ok, scale, des["C7"], s7, ev)],
                        columns=CLAIM_COLUMNS)


def _in_sweep(t: pd.DataFrame, sweep: str) -> pd.DataFrame:
    return t[t["sweep"] == sweep] if "sweep" in t else t


def _c6(ok, usable_at, scale, des, s6, ev):
    cons = _in_sweep(ok, des["sweep"])
    cons = cons[cons["method"] == "construction"]
    if cons.empty:
        return na_row(*s6, scale, f"method construction not in usability sweep '{des['sweep']}'")
    parts, verdict = [], True
    schedules = sorted(set(cons["schedule"]))
    if len(schedules) < 2:
        verdict = False
        parts.append(f"only schedule(s) {', '.join(schedules)} measured (both needed)")
    for key, g in cons.groupby(_SET):
        per = []
        for schedule, h in g.groupby("schedule"):
            med = h.groupby("size")["usability"].agg(["median", "min", "max", "count"])
            best = med["median"].idxmax()
            b = med.loc[best]
            per.append(f"{schedule} {b['median']:.3f} at m'={int(best)} (seeds {b['min']:.3f}-{b['max']:.3f}, "
                       f"n={int(b['count'])})")
            verdict = verdict and bool(b["median"] >= usable_at)
        parts.append(f"{key[0]} d={int(key[1])} |K|={int(key[2])}: " + ", ".join(per))
    text = (f"best size's median recall over seeds of a freshly built construction MLP, per fact set and schedule "
            f"(pass: >= {usable_at:g} on every set under both): " + "; ".join(parts))
    return claim_row(*s6, text, scale, verdict, ev)


def c7_series(usab: pd.DataFrame, *, sweep: str, min_storing: int) -> pd.DataFrame:
    """Per (method, whitening variant, fact set) series of the paper's construction in one usability
    sweep, schedule insert_then_train, MLPs storing every fact: the Spearman correlation of
    usability with the Jacobian Lipschitz estimate per seed over the series' m' grid, and its median
    over seeds (``spearman``). Seeds with fewer than ``min_storing`` storing MLPs give no value
    (column ``n_storing`` holds the smallest count over seeds)."""
    cols = ["method", "variant", *_SET, "n_seeds", "n_storing", "spearman", "spearman_min", "spearman_max"]
    t = _in_sweep(usab, sweep)
    t = t[(t["schedule"] == "insert_then_train") & t["method"].map(is_paper_construction)]
    t = t[as_numeric(t["storage_accuracy"]) >= 1.0].copy()
    t["variant"] = t["variant"].fillna("").astype(str) if "variant" in t else ""
    out = []
    for key, g in t.groupby(["method", "variant", *_SET]):
        per_seed, counts = [], []
        for _, h in g.groupby("seed"):
            counts.append(len(h))
            if len(h) >= min_storing:
                per_seed.append(spearman(h["usability"], h["lipschitz_jacobian"]))
        finite = [x for x in per_seed if np.isfinite(x)]
        out.append(dict(zip(cols, [*key, len(counts), min(counts), float(np.median(finite)) if finite else np.nan,
                                   min(finite, default=np.nan), max(finite, default=np.nan)])))
    return pd.DataFrame(out, columns=cols)


def _c7(ok, scale, des, s7, ev):
    sweep, min_storing = des["sweep"], int(des.get("min_storing", 6))
    t = _in_sweep(ok, sweep)
    if not t["method"].map(is_paper_construction).any():
        return na_row(*s7, scale, f"no construction method in usability sweep '{sweep}'")
    series = c7_series(ok, sweep=sweep, min_storing=min_storing)
    good = series[series["spearman"].notna()]
    short = series[series["spearman"].isna()]

    def name(x):
        return f"{x['method']}{' [' + x['variant'] + ']' if x['variant'] else ''} {x['family']} d={int(x['d'])}"

    detail = ", ".join(f"{name(x)}: {x['spearman']:.2f} ({x['spearman_min']:.2f} to {x['spearman_max']:.2f}, "
                       f">= {int(x['n_storing'])} MLPs)" for _, x in good.iterrows())
    full = t[(t["schedule"] == "insert_then_train") & (as_numeric(t["storage_accuracy"]) >= 1.0)]
    pooled = spearman(full["usability"], full["lipschitz_jacobian"]) if len(full) else float("nan")
    fam = full[full["method"].map(is_paper_construction)]
    beside = [f"pooled over all methods of the sweep (n={len(full)}) {pooled:.2f}",
              f"analytic bound within the construction family {spearman(fam['usability'], fam['lipschitz_bound']):.2f}"
              if "lipschitz_bound" in fam else "analytic bound: not in the table",
              f"margin predictor Spearman(usability, min_margin) {spearman(fam['usability'], fam['min_margin']):.2f} "
              "(expected > 0)" if "min_margin" in fam else "margin predictor: not in the table"]
    few = short[short["n_storing"] < min_storing]
    flat = short[short["n_storing"] >= min_storing]  # enough MLPs, but usability or Lipschitz constant
    notes = ([f"{len(few)} series with fewer than {min_storing} storing MLPs at some seed left out: "
              + ", ".join(f"{name(x)} ({int(x['n_storing'])})" for _, x in few.iterrows())] if len(few) else [])
    notes += ([f"{len(flat)} series with no defined Spearman at any seed (usability or Lipschitz constant over "
               "the series) left out: " + ", ".join(f"{name(x)} ({int(x['n_storing'])} MLPs)"
                                                    for _, x in flat.iterrows())] if len(flat) else [])
    if good.empty:
        return claim_row(*s7, f"no series with >= {min_storing} storing MLPs per seed and a defined Spearman; beside: "
                    f"{'; '.join(beside)}", scale, None, "; ".join([ev, *notes]))
    med = float(good["spearman"].median())
    worst = float(good["spearman"].max())
    passed = bool(med <= -0.7 and worst <= 0)
    text = (f"median over {len(good)} series of Spearman(usability, Lipschitz Jacobian) {med:.2f} (pass <= -0.7), "
            f"largest {worst:.2f} (pass <= 0); per series, median over seeds (range): {detail}; beside [not "
            f"deciding]: {'; '.join(beside)}")
    return claim_row(*s7, text, scale, passed, "; ".join([ev, *notes]))
