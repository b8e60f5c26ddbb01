"""The editing figure (Dugan Fig. 4): each editor's score and its parts against the number of
edited facts, the mean over seeds with their range."""

from __future__ import annotations

import itertools

import matplotlib
import matplotlib.pyplot as plt
import matplotlib.ticker
import pandas as pd
import seaborn as sns

from .common import fallback_colour

__all__ = ["EDITOR_PALETTE", "editing_figure", "seed_summary", "sequential_figure"]

# Colours of the editors, in legend order. Not a list of the editors (that is
# factmlp.editing.experiment.EDITORS, which the config schema reads): an editor it does not name
# follows them, sorted, with factmlp.plots.common.fallback_colour.
EDITOR_PALETTE = {"mlp_swap": "#1f77b4", "rome": "#2ca02c", "memit": "#ff7f0e", "alphaedit": "#9467bd"}


def seed_summary(best: pd.DataFrame, columns) -> pd.DataFrame:
    """Per (base, editor, number of edits): the mean, minimum and maximum over seeds of each of
    ``columns`` and the number of seeds (``n_seeds``). A table without a ``seed`` column is one seed."""
    best = best if "seed" in best else best.assign(seed=0)
    g = best.groupby(["method", "editor", "n_edits"], sort=True)
    out = g[list(columns)].agg(["mean", "min", "max"])
    out.columns = [f"{c}_{stat}" for c, stat in out.columns]
    return out.assign(n_seeds=g["seed"].nunique()).reset_index()


def editing_figure(best: pd.DataFrame) -> plt.Figure:
    """Dugan Fig. 4: for each editor (best grid point), the score (geometric mean, Dugan's caption,
    and harmonic mean, the MEMIT / hebbian-mlps convention), efficacy, paraphrase accuracy,
    specificity and the non-fact perplexity ratio against the number of edited facts; one line
    style per base fact MLP method. Each seed is its own base model: the line is the mean over
    seeds, the shaded band their range (min to max; none with one seed)."""
    if best.empty:
        raise ValueError("editing table is empty")
    metrics = [("score_gm", "score (geometric mean)"), ("score_hm", "score (harmonic mean)"), ("efficacy", "efficacy"),
               ("paraphrase", "paraphrase accuracy"), ("specificity", "specificity"),
               ("nonfact_ppl_ratio", "non-fact perplexity ratio")]
    present = set(best["editor"])
    editors = [e for e in EDITOR_PALETTE if e in present] + sorted(present - set(EDITOR_PALETTE))
    palette = {e: EDITOR_PALETTE.get(e) or fallback_colour(e) for e in editors}
    summary = seed_summary(best, [col for col, _ in metrics])
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.4))
    # one line style per base (cycled past four bases; the markers tell the fifth from the first)
    cycle = itertools.cycle([("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ("-", "v"), ("--", "x")])
    styles = dict(zip(sorted(set(best["method"])), cycle))
    for ax, (col, label) in zip(axes, metrics):
        for (method, editor), g in summary.groupby(["method", "editor"]):
            ls, marker = styles[method]
            seeds = int(g["n_seeds"].max())
            ax.plot(g["n_edits"], g[f"{col}_mean"], ls=ls, marker=marker, color=palette[editor],
                    label=f"{editor} ({method} MLP" + (f", {seeds} seeds)" if seeds > 1 else ")"))
            if seeds > 1:
                ax.fill_between(g["n_edits"], g[f"{col}_min"], g[f"{col}_max"], color=palette[editor], alpha=0.15,
                                linewidth=0)
        ax.set(xscale="log", xlabel="edited facts", ylabel=label)
        # log ticks at powers of ten (every edit count as a tick crowds when bases differ in size)
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        if col != "nonfact_ppl_ratio":
            ax.set_ylim(-0.03, 1.03)
    axes[-1].legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the panels, not over one
    fig.tight_layout()
    return fig


def sequential_figure(best: pd.DataFrame) -> plt.Figure:
    """Sequential editing (:mod:`factmlp.editing.sequential`): one row of panels per base, against
    the facts edited so far after each round: the GM score, efficacy and paraphrase accuracy (every
    fact edited so far), specificity (every fact not yet edited), the non-fact perplexity ratio and
    the round's wall seconds; one line per editor (its best grid point), the mean over seeds with
    their range as a band."""
    if best.empty:
        raise ValueError("sequential editing table is empty")
    metrics = [("score_gm", "score (geometric mean)"), ("efficacy", "efficacy (edited so far)"),
               ("paraphrase", "paraphrase (edited so far)"), ("specificity", "specificity (not yet edited)"),
               ("nonfact_ppl_ratio", "non-fact perplexity ratio"), ("seconds", "seconds per round")]
    present = set(best["editor"])
    editors = [e for e in EDITOR_PALETTE if e in present] + sorted(present - set(EDITOR_PALETTE))
    palette = {e: EDITOR_PALETTE.get(e) or fallback_colour(e) for e in editors}
    summary = seed_summary(best.rename(columns={"n_edited": "n_edits"}), [col for col, _ in metrics])
    bases = sorted(set(best["method"]))
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(len(bases), len(metrics), figsize=(3.0 * len(metrics), 2.9 * len(bases)), squeeze=False)
    for row, base in zip(axes, bases):
        n_facts = int((best[best["method"] == base]["n_edited"] + best[best["method"] == base]["n_unedited"]).max())
        for ax, (col, label) in zip(row, metrics):
            for editor in editors:
                g = summary[(summary["method"] == base) & (summary["editor"] == editor)]
                if g.empty:
                    continue
                seeds = int(g["n_seeds"].max())
                ax.plot(g["n_edits"], g[f"{col}_mean"], marker="o", ms=3, color=palette[editor],
                        label=editor + (f" ({seeds} seeds)" if seeds > 1 else ""))
                if seeds > 1:
                    ax.fill_between(g["n_edits"], g[f"{col}_min"], g[f"{col}_max"], color=palette[editor],
                                    alpha=0.15, linewidth=0)
            ax.set(xlabel="facts edited so far", ylabel=label, title=f"{base} ({n_facts} facts)" if col == "score_gm"
                   else None)
            if col not in ("nonfact_ppl_ratio", "seconds"):
                ax.set_ylim(-0.03, 1.03)
            if col == "seconds":
                ax.set_yscale("log")
        row[-1].legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig
