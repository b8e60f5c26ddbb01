"""The Nichani et al. figures: associative-memory capacity (Fig. 1), facts stored by a one-layer
Transformer and the attention/MLP trade-off (Fig. 4), sequential learning (Fig. 5)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ..tables import loglog_slope

__all__ = ["nichani_memory_figure", "nichani_recall_figure", "nichani_sequential_figure"]

MEMORY_STYLES = {"trained": ("#d62728", "o"), "outer": ("#1f77b4", "s"), "ntk": ("#ff7f0e", "^")}


def _guide(ax, c: float, n_lo: float, n_hi: float, colour, label: str, ls: str = "--") -> None:
    """The curve axis = C N ln N for N in [n_lo, n_hi] (drawn as N against the axis)."""
    n = np.geomspace(max(n_lo, 2.0), n_hi, 50)
    ax.plot(c * n * np.log(n), n, ls=ls, lw=0.9, color=colour, label=label)

def _memory_panel(ax, table: pd.DataFrame, family: str, title: str, xlabel: str) -> None:
    from ..nichani.associative import capacity_constants

    ok = table[table["found"].astype(bool)]
    series = [(m, True, "") for m in ("trained", "outer")] + [(m, False, "rank-m ") for m in ("trained", "outer")] \
        if family == "linear" else [(m, None, "") for m in ("trained", "ntk")]
    for memory, full, prefix in series:
        rows = ok[ok["memory"] == memory]
        if full is not None:
            rows = rows[(rows["m"] == rows["d"]) == full]
        if rows.empty:
            continue
        colour, marker = MEMORY_STYLES.get(memory, ("grey", "o"))
        fill = "full" if full in (True, None) else "none"
        g = rows.groupby(["d", "m", "axis_params"])["n_stored"].agg(["median", "min", "max"]).reset_index()
        g = g.sort_values("axis_params")
        ax.errorbar(g["axis_params"], g["median"], yerr=[g["median"] - g["min"], g["max"] - g["median"]],
                    color=colour, marker=marker, fillstyle=fill, ls="-" if fill == "full" else ":", capsize=2,
                    label=f"{prefix}{memory} (slope {loglog_slope(g['axis_params'], g['median']):.2f})")
        c = capacity_constants(table, family=family, memory=memory, full_rank=full)
        if len(c):
            _guide(ax, float(c["C"].median()), float(c["n_stored"].min()), float(c["n_stored"].max()), colour,
                   f"{prefix}{memory}: axis = {c['C'].median():.2f} N ln N", ls="--" if fill == "full" else "-.")
        capped = rows[rows["at_n_max"].astype(bool)]
        if len(capped):
            ax.scatter(capped["axis_params"], capped["n_stored"], marker="^", color=colour, s=30, zorder=4)
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel="largest N stored (100% accuracy)", title=title)
    ax.legend(fontsize=6)

def nichani_memory_figure(linear: pd.DataFrame | None, mlp: pd.DataFrame | None) -> plt.Figure:
    """Nichani Fig. 1: the largest number of associations N stored at 100% accuracy against d^2
    (linear memory; rank-m memories against m d, open markers) and against m d (MLP memory).
    Median over seeds with the min-max range; dashed: axis = C N ln N with C fitted (median)."""
    panels = [(t, f) for t, f in ((linear, "linear"), (mlp, "mlp")) if t is not None and len(t)]
    if not panels:
        raise ValueError("no associative-memory table to plot")
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.0), squeeze=False)
    for ax, (table, family) in zip(axes[0], panels):
        if family == "linear":
            _memory_panel(ax, table, "linear", "linear memory W (Fig. 1 left)", "d$^2$ (rank m: m d)")
        else:
            dims = ", ".join(str(d) for d in sorted(set(table["d"])))
            _memory_panel(ax, table, "mlp", f"MLP memory, d = {dims} (Fig. 1 right)", "m d")
    fig.tight_layout()
    return fig

def nichani_recall_figure(recall: pd.DataFrame | None, tradeoff: pd.DataFrame | None) -> plt.Figure:
    """Nichani Fig. 4: (left) facts stored (|S||R| at the largest stored size) against the
    parameters 4 H d_h d + 2 m d, with the fitted facts = c params line; (right) accuracy over
    attention params H d_h d x MLP params m d on one task."""
    panels = [p for p, t in (("recall", recall), ("tradeoff", tradeoff)) if t is not None and len(t)]
    if not panels:
        raise ValueError("no recall or trade-off table to plot")
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, len(panels), figsize=(5.4 * len(panels), 4.2), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        if panel == "recall":
            ok = recall[recall["found"].astype(bool)].copy()
            ok["model"] = [f"H={h} dh={e} m={m}" for h, e, m in zip(ok["heads"], ok["head_dim"], ok["mlp_width"])]
            sns.scatterplot(data=ok, x="param_count", y="n_facts", hue="d", style="model", palette="viridis", s=45,
                            ax=ax)
            capped = ok[ok["at_size_max"].astype(bool)]
            if len(capped):
                ax.scatter(capped["param_count"], capped["n_facts"], facecolor="none", edgecolor="k", s=110,
                           label="at size_max (lower bound)")
            full = ok[~ok["at_size_max"].astype(bool)]
            if len(full):
                c = float((full["n_facts"] / full["param_count"]).median())
                xs = np.geomspace(ok["param_count"].min(), ok["param_count"].max(), 20)
                ax.plot(xs, c * xs, ls="--", color="grey",
                        label=f"facts = {c:.3f} x params "
                              f"(slope {loglog_slope(full['param_count'], full['n_facts']):.2f})")
            ax.set(xscale="log", yscale="log", xlabel="parameters 4 H d$_h$ d + 2 m d", ylabel="facts stored |S||R|",
                   title="facts stored by a 1-layer Transformer (Fig. 4 left)")
            ax.legend(fontsize=6)
        else:
            t = tradeoff.assign(attn=tradeoff["heads"] * tradeoff["head_dim"] * tradeoff["d"],
                                mlpp=tradeoff["mlp_width"] * tradeoff["d"])
            grid = t.pivot_table(index="mlpp", columns="attn", values="best_accuracy", aggfunc="mean")
            grid = grid.sort_index(ascending=False)
            sns.heatmap(grid, vmin=0, vmax=1, cmap="viridis", annot=True, fmt=".2f", annot_kws={"fontsize": 6},
                        cbar_kws={"label": "accuracy (all facts)"}, ax=ax)
            ax.set(xlabel="attention parameters H d$_h$ d", ylabel="MLP parameters m d",
                   title=f"attention vs MLP, {int(t['n_facts'].iloc[0])} facts (Fig. 4 right)")
    fig.tight_layout()
    return fig

def nichani_sequential_figure(curves: pd.DataFrame, stages: pd.DataFrame, *, answers_per_relation: int,
                              stage_tol: float) -> plt.Figure:
    """Nichani Fig. 5: test loss, relation-only loss and subject-only loss against SGD steps for
    each attention model (mean over seeds), with ln(#answers) (uniform) and ln D (the loss of the
    relation-only predictor) marked; shaded: init, hallucination (relation known, subject not)
    and convergence, from the first seed's stage summary."""
    models = [m for m in ("linear", "softmax") if m in set(curves["model"])]
    if not models:
        raise ValueError("no sequential-learning curves to plot")
    long = curves.melt(id_vars=["model", "seed", "step"], value_vars=["loss", "relation_loss", "subject_loss"],
                       var_name="curve", value_name="value")
    names = {"loss": "loss", "relation_loss": "relation-only loss", "subject_loss": "subject-only loss"}
    long["curve"] = long["curve"].map(names)
    ln_d = float(np.log(answers_per_relation))
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, len(models), figsize=(5.4 * len(models), 3.8), squeeze=False)
    shades = [("init", "#dddddd"), ("hallucination", "#fdd0a2"), ("convergence", "#c7e9c0")]
    for ax, model in zip(axes[0], models):
        st = stages[stages["model"] == model].sort_values("seed").iloc[0]
        end = float(curves.loc[curves["model"] == model, "step"].max())
        rel = float(st["relation_step"]) if pd.notna(st["relation_step"]) else end
        fact = float(st["fact_step"]) if pd.notna(st["fact_step"]) else end
        for (name, colour), (a, b) in zip(shades, [(0.0, rel), (rel, fact), (fact, end)]):
            if b > a:
                ax.axvspan(a, b, color=colour, alpha=0.6, lw=0, label=name)
        sns.lineplot(data=long[long["model"] == model], x="step", y="value", hue="curve",
                     hue_order=list(names.values()), palette=["k", "#d62728", "#1f77b4"], errorbar=None, ax=ax)
        n_answers = float(np.exp(st["uniform_loss"]))
        ax.axhline(st["uniform_loss"], ls=":", color="grey", lw=0.8)
        ax.axhline(ln_d, ls="--", color="#d62728", lw=0.8)
        ax.annotate(f"ln {n_answers:.0f} (uniform)", (0, st["uniform_loss"]), fontsize=6, xytext=(2, 2),
                    textcoords="offset points")
        ax.annotate(f"ln {answers_per_relation} (relation-only predictor)", (0, ln_d), fontsize=6, xytext=(2, 2),
                    textcoords="offset points", color="#d62728")
        lr = curves.loc[curves["model"] == model, "lr"].iloc[0]
        ax.set(xlabel="SGD step", ylabel="test loss", ylim=(-0.05, st["uniform_loss"] * 1.1),
               title=f"{model} attention, orthogonal embeddings (lr {lr:g})")
        ax.legend(fontsize=6, title=f"stages at loss <= {stage_tol:g} ln D", title_fontsize=6)
    fig.tight_layout()
    return fig
