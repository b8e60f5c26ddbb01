"""The usability figure (Dugan Fig. 3): usable size, capacity against usability, and the
Lipschitz and margin predictors."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from .common import method_palette, methods_in

__all__ = ["usability_figure"]


def usability_figure(table: pd.DataFrame, *, usable_at: float, schedule: str = "insert_then_train") -> plt.Figure:
    """Dugan Fig. 3 in four panels, from the usability table (schedule ``schedule``):
    (a) min params with usability >= ``usable_at`` vs #facts, one line per method and schedule
    (sweeps with figure ``size``; thin dashed: storage capacity); (b) usability vs facts stored
    over the probed sizes (sweeps with figure ``tradeoff``); (c) usability vs the Lipschitz
    estimate and (d) vs the normalised storage margin of every MLP storing all its facts, with
    Spearman correlations within the construction family (claim C7) and pooled over all methods."""
    from ..usability import min_usable

    ok = table[(table["status"] == "ok") & (table["schedule"] == schedule)].drop_duplicates(
        subset=["method", "family", "d", "n_facts", "seed", "size"])
    if ok.empty:
        raise ValueError(f"usability table has no rows for schedule {schedule!r}")
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, 4, figsize=(18.0, 4.1))
    colours = method_palette(methods_in(ok))

    ax = axes[0]
    size_rows = table[table.get("figure", pd.Series("size", index=table.index)) == "size"]
    styles = {"insert_then_train": ("-", "o"), "pretrain_then_insert": (":", "s")}
    for sched in sorted(set(size_rows.get("schedule", pd.Series(dtype=str)).dropna())):
        mu = min_usable(size_rows, usable_at=usable_at, schedule=sched)
        ls, marker = styles.get(sched, ("-.", "^"))
        for m in methods_in(mu) if len(mu) else []:
            g = mu[mu["method"] == m].groupby("n_facts")[["capacity_params", "usable_params"]].median().reset_index()
            if sched == schedule:
                ax.plot(g["n_facts"], g["capacity_params"], ls="--", color=colours[m], lw=0.8, alpha=0.6)
            ax.plot(g["n_facts"], g["usable_params"], ls=ls, marker=marker, color=colours[m], label=f"{m} ({sched})")
    ax.set(xscale="log", yscale="log", xlabel="number of facts |K|",
           ylabel=f"min params with usability >= {usable_at:g}",
           title="(a) usable size (thin dashed: storage capacity)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6)
    else:  # say why the panel is empty instead of drawing an empty legend
        ax.text(0.5, 0.5, f"no MLP reached usability >= {usable_at:g}", transform=ax.transAxes,
                ha="center", va="center", fontsize=8)

    ax = axes[1]
    trade = ok[ok["figure"] == "tradeoff"] if "figure" in ok else ok.iloc[0:0]
    if len(trade):
        trade = trade.assign(facts_stored=trade["storage_accuracy"] * trade["n_facts"])
        for (m, fam), g in trade.groupby(["method", "family"]):
            g = g.sort_values("size")
            ax.plot(g["facts_stored"], g["usability"], marker="o", color=colours[m], label=f"{m} / {fam}")
            for _, r in g.iterrows():
                ax.annotate(f"{r['size_name'][0]}={r['size']}", (r["facts_stored"], r["usability"]), fontsize=5,
                            xytext=(2, 2), textcoords="offset points")
        ax.legend(fontsize=7)
    ax.set(xlabel="facts stored by the swapped-in MLP", ylabel="usability (recall after swap)",
           title="(b) capacity vs usability (labels: size)")

    full = ok[ok["storage_accuracy"] >= 1.0]
    family = full[full["method"].str.startswith("construction")]
    for ax, column, xlabel, letter, xlog in (
        (axes[2], "lipschitz_jacobian", "max Jacobian spectral norm at the keys (relative to output gain)", "c", True),
        (axes[3], "min_margin", "min normalised storage margin of the swapped-in MLP", "d", False),
    ):
        for m in methods_in(full) if len(full) else []:
            g = full[full["method"] == m]
            ax.scatter(g[column], g["usability"], color=colours[m], label=m, s=18)
        parts = [f"{name} {_spearman(sub, column):.2f}" for name, sub in (("constr.", family), ("all", full))
                 if len(sub) >= 3]
        predictor = "Lipschitz" if letter == "c" else "margin"
        ax.set_title(f"({letter}) {predictor} vs usability" + (f"\nSpearman: {', '.join(parts)}" if parts else ""),
                     fontsize=9)
        ax.set(xscale="log" if xlog else "linear", xlabel=xlabel, ylabel="usability (recall after swap)")
        if len(full):
            ax.legend(fontsize=6)
    fig.tight_layout()
    return fig

def _spearman(rows: pd.DataFrame, column: str) -> float:
    """Spearman correlation of ``column`` with usability (Pearson of average ranks)."""
    return float(rows[column].rank().corr(rows["usability"].rank()))
