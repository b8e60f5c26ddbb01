"""Claim C8 from the best editing rows (results/tables/editing_best.tsv), revision 3: MLP swapping
against ROME, MEMIT and AlphaEdit, on every base, over seeds."""

from __future__ import annotations

import pandas as pd

from .common import CLAIM_COLUMNS, claim_row, na_row

__all__ = ["editing_claims", "editing_summary"]


def editing_summary(best: pd.DataFrame) -> pd.DataFrame:
    """Per (base, editor) at the base's largest edit fraction: the mean, sample standard deviation
    (ddof 1; 0 with one seed) and range over seeds of the GM score, and the number of seeds."""
    best = best if "seed" in best else best.assign(seed=0)
    out = []
    for base, g in best.groupby("method"):
        top = g[g["fraction"] == g["fraction"].max()]
        for editor, h in top.groupby("editor"):
            per_seed = h.groupby("seed")["score_gm"].max()  # one best row per seed
            out.append({"method": base, "fraction": float(top["fraction"].iloc[0]),
                        "n_edits": int(top["n_edits"].max()), "editor": editor, "n_seeds": len(per_seed),
                        "mean": float(per_seed.mean()),
                        "std": float(per_seed.std(ddof=1)) if len(per_seed) > 1 else 0.0,
                        "min": float(per_seed.min()), "max": float(per_seed.max())})
    return pd.DataFrame(out, columns=["method", "fraction", "n_edits", "editor", "n_seeds", "mean", "std", "min",
                                      "max"])


def editing_claims(best: pd.DataFrame | None, *, scale: str, min_score: float = 0.9) -> pd.DataFrame:
    """Claim C8 from the best editing rows: on every base, at its largest edit fraction, the MLP swap's
    mean GM score over seeds is the highest, ahead of the runner-up by more than the runner-up's seed
    standard deviation (ddof 1), and >= ``min_score``. Dugan et al. swap their constructed MLPs,
    the hebbian-mlps code a GD-trained one: every configured base must pass."""
    s8 = ("C8", "MLP swapping beats ROME, MEMIT and AlphaEdit as the number of edits grows", "Dugan Fig 4",
          f"MLP swap has the highest score at the largest edit fraction (and >= {min_score:g})")
    ev = "results/tables/editing_best.tsv; results/figures/editing.pdf"
    if best is None or best.empty:
        return pd.DataFrame([na_row(*s8, scale, "editing stage not in this config (editing.base_mlps is empty)")],
                            columns=CLAIM_COLUMNS)
    summary = editing_summary(best)
    parts, verdicts = [], []
    for base, g in summary.groupby("method"):
        g = g.set_index("editor")
        if "mlp_swap" not in g.index or len(g) < 2:
            parts.append(f"{base}: needs mlp_swap and a baseline")
            verdicts.append(False)
            continue
        swap, rivals = g.loc["mlp_swap"], g.drop("mlp_swap")
        runner = rivals["mean"].idxmax()
        lead = swap["mean"] - rivals.loc[runner, "mean"]
        ok = bool(lead > rivals.loc[runner, "std"] and swap["mean"] >= min_score)
        verdicts.append(ok)
        scores = ", ".join(f"{e} {x['mean']:.3f} +- {x['std']:.3f}" for e, x in g.sort_values("mean", ascending=False)
                           .iterrows())
        parts.append(f"{base} at {swap['fraction']:g} ({int(swap['n_edits'])} edits, {int(swap['n_seeds'])} seeds): "
                     f"{scores}; swap leads {runner} by {lead:+.3f} vs its seed std {rivals.loc[runner, 'std']:.3f}"
                     f" -> {ok}" + (" (one seed: no spread)" if swap["n_seeds"] < 2 else ""))
    passed = bool(verdicts) and all(verdicts)
    return pd.DataFrame([claim_row(*s8, "; ".join(parts), scale, passed, ev)], columns=CLAIM_COLUMNS)
