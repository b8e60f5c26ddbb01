"""Claim C9 from the Nichani et al. tables (results/tables/nichani_{linear,mlp,recall}.tsv):
associative-memory capacity is linear in parameters up to a log factor."""

from __future__ import annotations

import pandas as pd

from ..tables import loglog_slope
from .common import CLAIM_COLUMNS, claim_row, na_row

__all__ = ["nichani_claims"]


def nichani_claims(linear: pd.DataFrame | None, mlp: pd.DataFrame | None, *, scale: str,
                   recall: pd.DataFrame | None = None, max_spread: float = 2.0) -> pd.DataFrame:
    """Claim C9 from the Nichani memory tables (None: that part did not run at this scale).

    For the trained memories of the paper's Fig. 1 (the full-rank linear W, the ReLU MLP), the
    constant C of d^2 = C N ln N (linear) and m d = C N ln N (MLP) at each size (median N over
    seeds; searches capped at n_max left out); pass if max C / min C <= ``max_spread`` for every
    configured memory family with at least two sizes. Reported: the median C, its spread, and the
    fitted log-log slope of N against the parameter axis (1 up to the log factor); the
    constructions (outer product, NTK, rank-m) are reported alongside, not deciding, and so is
    the Transformer of Fig. 4 (``recall``: facts stored against 4 H d_h d + 2 m d)."""
    from ..nichani.associative import capacity_constants

    s9 = ("C9", "Associative-memory capacity is linear in parameters (up to log)", "Nichani Fig 1, 4",
          "d^2 = 1.3 N ln N (trained linear), md = 0.35 N ln N (trained MLP); C stable within 2x")
    ev = ("results/tables/nichani_linear.tsv, results/tables/nichani_mlp.tsv, results/tables/nichani_recall.tsv; "
          "results/figures/nichani_memories.pdf, results/figures/nichani_recall.pdf")
    tables = {"linear": linear, "mlp": mlp}
    if all(t is None or t.empty for t in tables.values()):
        return pd.DataFrame([na_row(*s9, scale, "nichani.linear and nichani.mlp not in this config")],
                            columns=CLAIM_COLUMNS)
    parts, verdicts = [], []
    series = [("linear", "trained", True, "trained linear d^2", True), ("mlp", "trained", None, "trained MLP md", True),
              ("linear", "outer", True, "outer-product d^2", False),
              ("linear", "trained", False, "trained rank-m md", False),
              ("linear", "outer", False, "outer-product rank-m md", False), ("mlp", "ntk", None, "NTK md", False)]
    for family, memory, full, label, deciding in series:
        t = tables[family]
        if t is None or t.empty:
            if deciding:
                parts.append(f"{label}: not measured")
            continue
        c = capacity_constants(t, family=family, memory=memory, full_rank=full)
        if len(c) < 2:
            if deciding and ((t["family"] == family) & (t["memory"] == memory)).any():
                parts.append(f"{label}: fewer than 2 sizes with a measured capacity")
                verdicts.append(False)
            continue
        spread = float(c["C"].max() / c["C"].min())
        slope = loglog_slope(c["axis_params"], c["n_stored"])
        tag = "" if deciding else " [not deciding]"
        parts.append(f"{label}{tag}: C median {c['C'].median():.2f} (range {c['C'].min():.2f}-{c['C'].max():.2f}, "
                     f"spread {spread:.2f}x over {len(c)} sizes), log-log slope of N {slope:.2f}")
        if deciding:
            verdicts.append(spread <= max_spread)
    if recall is not None and len(ok := recall[recall["found"].astype(bool) & ~recall["at_size_max"].astype(bool)]):
        ratio = ok["n_facts"].astype(float) / ok["param_count"].astype(float)
        parts.append(f"1-layer Transformer [not deciding]: facts/params median {ratio.median():.3f} over {len(ok)} "
                     f"models, log-log slope {loglog_slope(ok['param_count'], ok['n_facts']):.2f}")
    passed = bool(verdicts) and all(verdicts)
    return pd.DataFrame([claim_row(*s9, "; ".join(parts), scale, passed, ev)], columns=CLAIM_COLUMNS)
