"""Claims C6 and C7 from the usability table (results/tables/usability.tsv): constructed MLPs are
usable inside a Transformer, and the Lipschitz constant predicts usability."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .common import CLAIM_COLUMNS, _na, _num, _row, is_closed_form, spearman

__all__ = ["usability_claims"]


def usability_claims(usab: pd.DataFrame | None, *, usable_at: float, scale: str) -> pd.DataFrame:
    """Claims C6-C7 from the usability table (None: the stage did not run at this scale).

    C6: the best recall after inserting a freshly built construction MLP, over sizes and both
    schedules (swap after training with another MLP, or insert after identity pre-training: both
    measure a new MLP with no further training); pass if >= ``usable_at`` somewhere. C7: Spearman
    correlation of usability with the Jacobian Lipschitz estimate within the construction family
    (every method named ``construction*``; schedule insert_then_train, status ok, MLPs storing
    every fact); pass if <= -0.7. Reported beside: the pooled value over every method, the
    analytic bound's correlation and the margin predictor Spearman(usability, min_margin) within
    the family (expected positive).
    """
    s6 = ("C6", "Constructed MLPs are >=99% usable inside a 1-layer Transformer", "Dugan Fig 3a", ">= 0.99 recall")
    s7 = ("C7", "Capacity trades against usability; the Lipschitz constant predicts usability", "Dugan Fig 3b, 3c",
          "Spearman <= -0.7")
    ev = "results/tables/usability.tsv; results/figures/usability.pdf"
    if usab is None or usab.empty:
        why = "usability stage not in this config (usability.sweeps is empty)"
        return pd.DataFrame([_na(*s6, scale, why), _na(*s7, scale, why)], columns=CLAIM_COLUMNS)
    rows = []
    every = usab[usab["status"] == "ok"].drop_duplicates(
        subset=["method", "family", "d", "n_facts", "seed", "size", "schedule"])
    ok = every[every["schedule"] == "insert_then_train"]
    cons = every[every["method"] == "construction"]
    if len(cons):
        best = cons.groupby("schedule")["usability"].max()
        detail = ", ".join(f"{s} {v:.3f}" for s, v in best.items())
        per_set = cons.groupby(["family", "d", "n_facts"])["usability"].max()
        sets = ", ".join(f"{f} d={d} |K|={n}: {v:.3f}" for (f, d, n), v in per_set.items())
        rows.append(_row(*s6, f"max recall of a freshly built construction MLP {best.max():.3f} by schedule: "
                         f"{detail} (per fact set: {sets})", scale, bool(best.max() >= usable_at), ev))
    else:
        rows.append(_na(*s6, scale, "method construction not in the usability sweeps"))
    full = ok[_num(ok["storage_accuracy"]) >= 1.0]
    family_all = usab[usab["method"].map(is_closed_form)]
    fam = full[full["method"].map(is_closed_form)]
    if family_all.empty:
        rows.append(_na(*s7, scale, "no construction* method in the usability sweeps"))
        return pd.DataFrame(rows, columns=CLAIM_COLUMNS)
    names = "/".join(sorted(set(family_all["method"])))

    def corr(t, col):
        return spearman(t["usability"], t[col]) if col in t else float("nan")

    rj = corr(fam, "lipschitz_jacobian")
    beside = [f"analytic bound {corr(fam, 'lipschitz_bound'):.2f}",
              f"margin predictor Spearman(usability, min_margin) {corr(fam, 'min_margin'):.2f} (expected > 0)"
              if "min_margin" in fam else "margin predictor: column min_margin not in the table",
              f"pooled over all methods (n={len(full)}): Jacobian {corr(full, 'lipschitz_jacobian'):.2f}, "
              f"bound {corr(full, 'lipschitz_bound'):.2f}"]
    text = (f"Spearman(usability, Lipschitz Jacobian) within the construction family ({names}, n={len(fam)} MLPs "
            f"storing all facts, insert_then_train) {rj:.2f}; beside [not deciding]: {'; '.join(beside)}")
    if not np.isfinite(rj):
        text = f"too few distinct points in the construction family ({len(fam)}); " + text
    rows.append(_row(*s7, text, scale, bool(np.isfinite(rj) and rj <= -0.7), ev))
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)
