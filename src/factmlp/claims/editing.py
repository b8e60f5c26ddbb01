"""Claim C8 from the best editing rows (results/tables/editing_best.tsv): MLP swapping against
ROME, MEMIT and AlphaEdit."""

from __future__ import annotations

import pandas as pd

from .common import CLAIM_COLUMNS, _na, _row

__all__ = ["editing_claims"]


def editing_claims(best: pd.DataFrame | None, *, scale: str, min_score: float = 0.9) -> pd.DataFrame:
    """Claim C8 from the best editing rows: at the largest edit fraction, is MLP swapping's score
    (geometric mean) the highest and >= ``min_score``? Decided on every configured base fact MLP
    (each must pass): Dugan et al. swap their constructed MLPs, the hebbian-mlps code a GD-trained one."""
    s8 = ("C8", "MLP swapping beats ROME, MEMIT and AlphaEdit as the number of edits grows", "Dugan Fig 4",
          f"MLP swap has the highest score at the largest edit fraction (and >= {min_score:g})")
    ev = "results/tables/editing_best.tsv; results/figures/editing.pdf"
    if best is None or best.empty:
        return pd.DataFrame([_na(*s8, scale, "editing stage not in this config (editing.base_mlps is empty)")],
                            columns=CLAIM_COLUMNS)
    parts, verdicts = [], []
    for method, g in best.groupby("method"):
        top = g[g["fraction"] == g["fraction"].max()].set_index("editor")["score_gm"]
        if "mlp_swap" not in top.index or len(top) < 2:
            parts.append(f"{method} MLP: needs mlp_swap and a baseline")
            verdicts.append(False)
            continue
        rivals = top.drop("mlp_swap")
        highest = bool(top["mlp_swap"] > rivals.max())
        high_enough = bool(top["mlp_swap"] >= min_score)
        verdicts.append(highest and high_enough)
        scores = ", ".join(f"{e} {v:.3f}" for e, v in top.sort_values(ascending=False).items())
        parts.append(f"{method} MLP at {g['fraction'].max():g} ({int(g['n_edits'].max())} edits): {scores} "
                     f"(mlp_swap highest {highest}, >= {min_score:g} {high_enough})")
    return pd.DataFrame([_row(*s8, "; ".join(parts), scale, bool(verdicts) and all(verdicts), ev)],
                        columns=CLAIM_COLUMNS)
