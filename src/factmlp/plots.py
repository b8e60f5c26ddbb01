"""Figures from tidy tables: one method order and one palette for every figure.

Plot functions take a DataFrame and return a matplotlib Figure; :func:`save_figure` writes
PDF and PNG atomically.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .io import atomic_path  # noqa: E402
from .tables import loglog_slope  # noqa: E402

__all__ = ["METHOD_ORDER", "PALETTE", "capacity_figure", "rho_law_figure", "anisotropy_figure", "sweep_figure", "cost_ratio_figure", "save_figure",
           "usability_figure", "editing_figure", "nichani_memory_figure", "nichani_recall_figure",
           "nichani_sequential_figure"]

# Dugan et al. colours: GD red, construction blue, NTK orange (variants in lighter shades).
METHOD_ORDER = ["gd", "gd_encdec", "construction", "construction_whitened", "construction_jl",
                "construction_jl_whitened", "construction_codebook", "hebbian", "hebbian_whitened",
                "hebbian_data_dependent", "ntk", "ntk_whitened", "ntk_ustar"]
PALETTE = {
    "gd": "#d62728",
    "gd_encdec": "#9467bd",
    "construction": "#1f77b4",
    "construction_whitened": "#6baed6",
    "construction_jl": "#17becf",
    "construction_jl_whitened": "#9edae5",
    "construction_codebook": "#08306b",  # ours beyond the paper: dark blue
    "hebbian": "#bcbd22",  # v2 builders (hebbian-mlps): olive to green
    "hebbian_whitened": "#2ca02c",
    "hebbian_data_dependent": "#98df8a",
    "ntk": "#ff7f0e",
    "ntk_whitened": "#fdae6b",
    "ntk_ustar": "#8c564b",
}


def _palette(methods) -> dict:
    """PALETTE, with a seaborn colour for any method it does not name (a newly added method)."""
    extra = [m for m in methods if m not in PALETTE]
    return {**PALETTE, **dict(zip(extra, sns.color_palette("tab10", len(extra))))}


def _methods(df: pd.DataFrame) -> list[str]:
    present = list(dict.fromkeys(df["method"]))
    return [m for m in METHOD_ORDER if m in present] + [m for m in present if m not in METHOD_ORDER]


def capacity_figure(df: pd.DataFrame, *, sweep: str) -> plt.Figure:
    """Min params vs #facts per method (log-log), one line per (method, family); slopes in legend.

    A search that found no storing size up to its maximum is not dropped: it is drawn as an
    upward triangle at the parameters of the largest size probed (``max_probed_params``), a lower
    bound on that method's min params (shared/claims.md)."""
    every = df[df["sweep"] == sweep]
    rows = every[every["found"].astype(bool)].copy()
    if rows.empty:
        raise ValueError(f"capacity table has no successful rows for sweep {sweep!r}")
    bounds = every[~every["found"].astype(bool)]
    if "max_probed_params" in bounds:
        bounds = bounds[bounds["max_probed_params"].notna()]
    else:
        bounds = bounds.iloc[:0]
    methods = _methods(rows)
    labels = {}
    for (m, fam), g in rows.groupby(["method", "family"]):
        labels[(m, fam)] = f"{m} / {fam} (slope {loglog_slope(g['n_facts'], g['param_count']):.2f})"
    rows["series"] = [labels[(m, f)] for m, f in zip(rows["method"], rows["family"])]
    colours = _palette(methods)
    palette = {lab: colours[m] for (m, _), lab in labels.items()}
    several_families = rows["family"].nunique() > 1
    sns.set_theme(style="whitegrid", context="paper")
    fig, ax = plt.subplots(figsize=(5.0, 3.6))
    marks = dict(style="family", markers=True, dashes=False) if several_families else dict(marker="o")
    sns.lineplot(
        data=rows.sort_values("n_facts"), x="n_facts", y="param_count", hue="series",
        hue_order=[lab for m in methods for (mm, _), lab in labels.items() if mm == m],
        palette=palette, errorbar=("pi", 100), ax=ax, **marks,
    )
    bound_colours = _palette(_methods(bounds)) if len(bounds) else {}
    for m, g in bounds.groupby("method"):
        ax.scatter(g["n_facts"], g["max_probed_params"], marker="^", s=36, facecolors="none",
                   edgecolors=bound_colours[m], linewidths=1.2, zorder=4,
                   label=f"{m}: stores nothing up to its max size (lower bound)")
    ax.set(xscale="log", yscale="log", xlabel="number of facts |K|", ylabel="min parameters to store all facts",
           title=f"capacity sweep '{sweep}' (band: range over seeds)")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xticks(sorted(every["n_facts"].unique()))
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.legend(fontsize=7, title="method / family (log-log slope)", title_fontsize=7)
    fig.tight_layout()
    return fig


def cost_ratio_figure(cap: pd.DataFrame, *, sweep: str, reference: str = "gd") -> plt.Figure:
    """Each method's min params divided by the reference method's (GD), against #facts
    (Dugan Fig. 2c: closed form vs GD-trained encoder/decoder vs GD MLP). Medians over seeds."""
    from .claims import median_over_seeds

    med = median_over_seeds(cap, sweep)
    wide = med.pivot_table(index=["family", "d", "n_facts"], columns="method", values="param_count")
    if reference not in wide.columns:
        raise ValueError(f"sweep {sweep!r} has no complete rows for the reference method {reference!r}")
    ratios = (wide.div(wide[reference], axis=0).drop(columns=[reference]).reset_index()
              .melt(id_vars=["family", "d", "n_facts"], var_name="method", value_name="ratio").dropna())
    sns.set_theme(style="whitegrid", context="paper")
    fig, ax = plt.subplots(figsize=(5.0, 3.6))
    sns.lineplot(data=ratios, x="n_facts", y="ratio", hue="method", hue_order=_methods(ratios),
                 palette=_palette(_methods(ratios)), marker="o", ax=ax)
    for m, g in ratios.groupby("method"):
        ax.annotate(f"median {g['ratio'].median():.1f}x", (g["n_facts"].iloc[-1], g["ratio"].iloc[-1]),
                    fontsize=6, xytext=(3, 0), textcoords="offset points", color=_palette([m])[m])
    ax.set(xscale="log", yscale="log", xlabel="number of facts |K|",
           ylabel=f"min params / min params of {reference}", title=f"cost relative to {reference} (sweep '{sweep}')")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def sweep_figure(kind: str, cap: pd.DataFrame, rho: pd.DataFrame, families: dict, *, sweep: str) -> plt.Figure:
    """The figure of one capacity sweep: ``kind`` is the sweep's ``figure`` setting."""
    if kind == "scaling":
        return capacity_figure(cap, sweep=sweep)
    if kind == "rho_law":
        return rho_law_figure(cap, rho, sweep=sweep)
    if kind == "anisotropy":
        return anisotropy_figure(cap, families, sweep=sweep)
    raise ValueError(f"unknown figure kind {kind!r}; known: scaling, rho_law, anisotropy")


def save_figure(fig: plt.Figure, *paths: str | os.PathLike) -> None:
    """Save ``fig`` to every path (format from the suffix), atomically, then close it."""
    for path in paths:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=os.path.splitext(str(path))[1].lstrip(".") or "png", dpi=200)
    plt.close(fig)


def _finish_log_axes(ax, xlabel: str, ylabel: str, title: str) -> None:
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(fontsize=6, title_fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def rho_law_figure(cap: pd.DataFrame, rho: pd.DataFrame, *, sweep: str) -> plt.Figure:
    """Min params vs decodability rho at fixed #facts across embedding families (Dugan Fig. 2a).

    One point per (method, family): median over seeds of the min params against the median rho
    of the family's values; the fitted rho law log(params) = a + b log(1/rho^2) is drawn per
    method with its R^2 in the legend. Whitened methods are plotted at the rho of the *original*
    values, so their shift left/down is the whitening gain. Points where some seed stored nothing
    up to the search's cap are drawn as open triangles at their lower bound, outside the fit.
    """
    from .claims import median_over_seeds, point_table, rho_law_fit

    med = median_over_seeds(cap, sweep)
    if med.empty:
        raise ValueError(f"capacity table has no complete rows for sweep {sweep!r}")
    r = rho.groupby(["family", "d", "n_facts"])["rho"].median().reset_index()
    pts = med.merge(r, on=["family", "d", "n_facts"])
    bounds = point_table(cap, sweep)
    bounds = bounds[bounds["bound"] == ">="].merge(r, on=["family", "d", "n_facts"])
    sns.set_theme(style="whitegrid", context="paper")
    fig, ax = plt.subplots(figsize=(8.2, 3.8))
    colours = _palette(_methods(pd.concat([pts, bounds])))
    for m in _methods(pts):
        g = pts[pts["method"] == m].sort_values("rho")
        fit = rho_law_fit(g)
        label = f"{m} (R$^2$ {fit['r2']:.2f})" if np.isfinite(fit["r2"]) else m
        ax.scatter(g["rho"], g["param_count"], color=colours[m], label=label, s=22, zorder=3)
        if np.isfinite(fit["slope"]):
            xs = np.linspace(g["rho"].min(), g["rho"].max(), 50)
            ax.plot(xs, np.exp(fit["intercept"] + fit["slope"] * np.log(1 / xs**2)), color=colours[m], lw=1)
        for _, row in g.iterrows():
            ax.annotate(row["family"], (row["rho"], row["param_count"]), fontsize=5, alpha=0.7,
                        xytext=(2, 2), textcoords="offset points")
        lb = bounds[bounds["method"] == m]
        if len(lb):  # not in the fit: some seed stored nothing up to the search's cap
            ax.scatter(lb["rho"], lb["param_count"], marker="^", facecolors="none", edgecolors=colours[m], s=30,
                       zorder=3, label=f"{m}: lower bound (a seed stored nothing up to its cap)")
            for _, row in lb.iterrows():
                ax.annotate(row["family"], (row["rho"], row["param_count"]), fontsize=5, alpha=0.7,
                            xytext=(2, 2), textcoords="offset points")
    d, n = int(pts["d"].iloc[0]), int(pts["n_facts"].iloc[0])
    _finish_log_axes(ax, "decodability rho(V)", "min parameters to store all facts",
                     f"sweep '{sweep}': d={d}, |K|={n}")
    fig.tight_layout()
    return fig


def anisotropy_figure(cap: pd.DataFrame, families: dict, *, sweep: str) -> plt.Figure:
    """Min params vs the spike strength beta of the embeddings (Dugan Fig. 5: NTK vs NTK with
    margin-optimal outputs). Families without ``beta`` (spherical) are plotted at beta = 0;
    searches that found no storing width up to width_max are marked at the top as failures."""
    rows = cap[cap["sweep"] == sweep].copy()
    if rows.empty:
        raise ValueError(f"capacity table has no rows for sweep {sweep!r}")
    rows["beta"] = [float(families.get(f, {}).get("beta", 0.0)) for f in rows["family"]]
    ok = rows[rows["found"].astype(bool)]
    sns.set_theme(style="whitegrid", context="paper")
    fig, ax = plt.subplots(figsize=(5.0, 3.6))
    colours = _palette(_methods(rows))
    sns.lineplot(data=ok.sort_values("beta"), x="beta", y="param_count", hue="method",
                 hue_order=_methods(ok) if len(ok) else None, palette=colours, marker="o",
                 errorbar=("pi", 100), ax=ax)
    failed = rows[~rows["found"].astype(bool)]
    if len(failed):
        top = ok["param_count"].max() * 2 if len(ok) else 1.0
        for m, g in failed.groupby("method"):
            ax.scatter(g["beta"], [top] * len(g), marker="x", color=colours[m], label=f"{m}: no width stores all")
    ax.set(yscale="log", xlabel="spike strength beta (anisotropy)", ylabel="min parameters to store all facts",
           title=f"sweep '{sweep}'")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def usability_figure(table: pd.DataFrame, *, usable_at: float, schedule: str = "insert_then_train") -> plt.Figure:
    """Dugan Fig. 3 in four panels, from the usability table (schedule ``schedule``):
    (a) min params with usability >= ``usable_at`` vs #facts, one line per method and schedule
    (sweeps with figure ``size``; thin dashed: storage capacity); (b) usability vs facts stored over the probed sizes (sweeps with figure
    ``tradeoff``); (c) usability vs the Lipschitz estimate and (d) vs the normalised storage margin of
    every MLP storing all its facts, with Spearman correlations within the construction family
    (claim C7) and pooled over all methods."""
    from .usability import min_usable

    ok = table[(table["status"] == "ok") & (table["schedule"] == schedule)].drop_duplicates(
        subset=["method", "family", "d", "n_facts", "seed", "size"])
    if ok.empty:
        raise ValueError(f"usability table has no rows for schedule {schedule!r}")
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, 4, figsize=(18.0, 4.1))
    colours = _palette(_methods(ok))

    ax = axes[0]
    size_rows = table[table.get("figure", pd.Series("size", index=table.index)) == "size"]
    styles = {"insert_then_train": ("-", "o"), "pretrain_then_insert": (":", "s")}
    for sched in sorted(set(size_rows.get("schedule", pd.Series(dtype=str)).dropna())):
        mu = min_usable(size_rows, usable_at=usable_at, schedule=sched)
        ls, marker = styles.get(sched, ("-.", "^"))
        for m in _methods(mu) if len(mu) else []:
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
        for m in _methods(full) if len(full) else []:
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


EDITOR_ORDER = ["mlp_swap", "rome", "memit", "alphaedit"]
EDITOR_PALETTE = {"mlp_swap": "#1f77b4", "rome": "#2ca02c", "memit": "#ff7f0e", "alphaedit": "#9467bd"}


def editing_figure(best: pd.DataFrame) -> plt.Figure:
    """Dugan Fig. 4: for each editor (best grid point), the score (geometric mean, Dugan's caption,
    and harmonic mean, the MEMIT / hebbian-mlps convention), efficacy, paraphrase accuracy,
    specificity and the non-fact perplexity ratio against the number of edited facts; one line
    style per base fact MLP method."""
    if best.empty:
        raise ValueError("editing table is empty")
    metrics = [("score_gm", "score (geometric mean)"), ("score_hm", "score (harmonic mean)"), ("efficacy", "efficacy"),
               ("paraphrase", "paraphrase accuracy"), ("specificity", "specificity"),
               ("nonfact_ppl_ratio", "non-fact perplexity ratio")]
    editors = [e for e in EDITOR_ORDER if e in set(best["editor"])] + sorted(set(best["editor"]) - set(EDITOR_ORDER))
    palette = {**dict(zip(editors, sns.color_palette("tab10", len(editors)))), **EDITOR_PALETTE}
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.4))
    styles = dict(zip(sorted(set(best["method"])), ["-", "--", ":", "-."]))
    for ax, (col, label) in zip(axes, metrics):
        for (method, editor), g in best.groupby(["method", "editor"]):
            g = g.sort_values("n_edits")
            ax.plot(g["n_edits"], g[col], ls=styles[method], marker="o", color=palette[editor],
                    label=f"{editor} ({method} MLP)")
        ax.set(xscale="log", xlabel="edited facts", ylabel=label)
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xticks(sorted(best["n_edits"].unique()))
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        if col != "nonfact_ppl_ratio":
            ax.set_ylim(-0.03, 1.03)
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    return fig


# ---- Nichani, Lee, Bietti 2024 (Fig. 1, 4, 5)

MEMORY_STYLES = {"trained": ("#d62728", "o"), "outer": ("#1f77b4", "s"), "ntk": ("#ff7f0e", "^")}


def _guide(ax, c: float, n_lo: float, n_hi: float, colour, label: str, ls: str = "--") -> None:
    """The curve axis = C N ln N for N in [n_lo, n_hi] (drawn as N against the axis)."""
    n = np.geomspace(max(n_lo, 2.0), n_hi, 50)
    ax.plot(c * n * np.log(n), n, ls=ls, lw=0.9, color=colour, label=label)


def _memory_panel(ax, table: pd.DataFrame, family: str, title: str, xlabel: str) -> None:
    from .associative import capacity_constants

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
            sns.scatterplot(data=ok, x="param_count", y="n_facts", hue="d", style="model", palette="viridis", s=45, ax=ax)
            capped = ok[ok["at_size_max"].astype(bool)]
            if len(capped):
                ax.scatter(capped["param_count"], capped["n_facts"], facecolor="none", edgecolor="k", s=110,
                           label="at size_max (lower bound)")
            full = ok[~ok["at_size_max"].astype(bool)]
            if len(full):
                c = float((full["n_facts"] / full["param_count"]).median())
                xs = np.geomspace(ok["param_count"].min(), ok["param_count"].max(), 20)
                ax.plot(xs, c * xs, ls="--", color="grey",
                        label=f"facts = {c:.3f} x params (slope {loglog_slope(full['param_count'], full['n_facts']):.2f})")
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
        ax.set(xlabel="SGD step", ylabel="test loss", ylim=(-0.05, st["uniform_loss"] * 1.1),
               title=f"{model} attention, orthogonal embeddings (lr {curves.loc[curves['model'] == model, 'lr'].iloc[0]:g})")
        ax.legend(fontsize=6, title=f"stages at loss <= {stage_tol:g} ln D", title_fontsize=6)
    fig.tight_layout()
    return fig
