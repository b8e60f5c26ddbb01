"""Figures of the capacity stage: min params against #facts (Dugan Fig. 1, 2b), against rho
(Fig. 2a), against the spike strength (Fig. 5), and each method's cost relative to GD (Fig. 2c)."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd
import seaborn as sns

from ..claims.capacity import median_over_seeds, point_table, rho_law_fit
from ..schemas import validate_table
from ..tables import as_bool, loglog_slope
from .common import finish_log_axes, method_palette, methods_in

__all__ = ["capacity_figure", "rho_law_figure", "anisotropy_figure", "sweep_figure", "cost_ratio_figure",
           "bits_figure", "GD_BITS_PER_PARAM"]

#: The bar: GD-trained MLPs store about 2 bits per parameter (Allen-Zhu & Li's knowledge-capacity law;
#: also the classical perceptron limit of 2 bits per weight).
GD_BITS_PER_PARAM = 2.0


def capacity_figure(df: pd.DataFrame, *, sweep: str) -> plt.Figure:
    """Min params vs #facts per method (log-log), one line per (method, family); slopes in legend.

    A search that found no storing size up to its maximum is not dropped: it is drawn as an
    upward triangle at the parameters of the largest size probed (``max_probed_params``), a lower
    bound on that method's min params (claims revision 3, docs/claims.md)."""
    every = df[df["sweep"] == sweep]
    rows = every[every["found"].astype(bool)].copy()
    if rows.empty:
        raise ValueError(f"capacity table has no successful rows for sweep {sweep!r}")
    bounds = every[~every["found"].astype(bool)]
    if "max_probed_params" in bounds:
        bounds = bounds[bounds["max_probed_params"].notna()]
    else:
        bounds = bounds.iloc[:0]
    methods = methods_in(rows)
    labels = {}
    for (m, fam), g in rows.groupby(["method", "family"]):
        labels[(m, fam)] = f"{m} / {fam} (slope {loglog_slope(g['n_facts'], g['param_count']):.2f})"
    rows["series"] = [labels[(m, f)] for m, f in zip(rows["method"], rows["family"])]
    colours = method_palette(methods)
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
    bound_colours = method_palette(methods_in(bounds)) if len(bounds) else {}
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
    med = median_over_seeds(cap, sweep)
    wide = med.pivot_table(index=["family", "d", "n_facts"], columns="method", values="param_count")
    if reference not in wide.columns:
        raise ValueError(f"sweep {sweep!r} has no complete rows for the reference method {reference!r}")
    ratios = (wide.div(wide[reference], axis=0).drop(columns=[reference]).reset_index()
              .melt(id_vars=["family", "d", "n_facts"], var_name="method", value_name="ratio").dropna())
    sns.set_theme(style="whitegrid", context="paper")
    fig, ax = plt.subplots(figsize=(5.0, 3.6))
    sns.lineplot(data=ratios, x="n_facts", y="ratio", hue="method", hue_order=methods_in(ratios),
                 palette=method_palette(methods_in(ratios)), marker="o", ax=ax)
    for m, g in ratios.groupby("method"):
        ax.annotate(f"median {g['ratio'].median():.1f}x", (g["n_facts"].iloc[-1], g["ratio"].iloc[-1]),
                    fontsize=6, xytext=(3, 0), textcoords="offset points", color=method_palette([m])[m])
    ax.set(xscale="log", yscale="log", xlabel="number of facts |K|",
           ylabel=f"min params / min params of {reference}", title=f"cost relative to {reference} (sweep '{sweep}')")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig

def bits_figure(cap: pd.DataFrame, *, sweep: str, reference: str = "gd") -> plt.Figure:
    """Bits stored per parameter (column ``bits_per_param`` of the capacity table, at each method's
    minimum size) against d, one line per method, median over seeds where every seed stored the
    set; the reference method (GD) drawn thick, and the 2-bits-per-parameter line."""
    validate_table(cap, "capacity", columns=["sweep", "method", "family", "d", "n_facts", "seed", "found",
                                             "bits_per_param"], source="bits figure")
    rows = cap[(cap["sweep"] == sweep) & as_bool(cap["found"])]
    if rows.empty:
        raise ValueError(f"capacity table has no successful rows for sweep {sweep!r}")
    med = (rows.groupby(["method", "family", "d", "n_facts"])["bits_per_param"].median().reset_index())
    methods = methods_in(med)
    sns.set_theme(style="whitegrid", context="paper")
    fig, ax = plt.subplots(figsize=(5.4, 3.6))
    sns.lineplot(data=med.sort_values("d"), x="d", y="bits_per_param", hue="method", hue_order=methods,
                 palette=method_palette(methods), marker="o", ax=ax)
    ref = med[med["method"] == reference].sort_values("d")
    if len(ref):
        ax.plot(ref["d"], ref["bits_per_param"], color=method_palette(methods)[reference], linewidth=3.0, alpha=0.5,
                zorder=1)
    ax.axhline(GD_BITS_PER_PARAM, color="0.3", linestyle="--", linewidth=1.0)
    ax.set(xscale="log", yscale="log", xlabel="d", ylabel="bits stored per parameter",
           title=f"storage efficiency (sweep '{sweep}'; {reference} thick)")
    ax.text(0.02, GD_BITS_PER_PARAM * 1.08, "2 bits / parameter (GD's bar)", transform=ax.get_yaxis_transform(),
            fontsize=6, color="0.3", va="bottom")
    ax.set_xticks(sorted(med["d"].unique()))
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left", borderaxespad=0)
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

def rho_law_figure(cap: pd.DataFrame, rho: pd.DataFrame, *, sweep: str) -> plt.Figure:
    """Min params vs decodability rho at fixed #facts across embedding families (Dugan Fig. 2a).

    One point per (method, family): median over seeds of the min params against the median rho
    of the family's values; the fitted rho law log(params) = a + b log(1/rho^2) is drawn per
    method with its R^2 in the legend. Whitened methods are plotted at the rho of the *original*
    values, so their shift left/down is the whitening gain. Points where some seed stored nothing
    up to the search's cap are drawn as open triangles at their lower bound, outside the fit.
    """
    med = median_over_seeds(cap, sweep)
    if med.empty:
        raise ValueError(f"capacity table has no complete rows for sweep {sweep!r}")
    r = rho.groupby(["family", "d", "n_facts"])["rho"].median().reset_index()
    pts = med.merge(r, on=["family", "d", "n_facts"])
    bounds = point_table(cap, sweep)
    bounds = bounds[bounds["bound"] == ">="].merge(r, on=["family", "d", "n_facts"])
    sns.set_theme(style="whitegrid", context="paper")
    fig, ax = plt.subplots(figsize=(8.2, 3.8))
    colours = method_palette(methods_in(pd.concat([pts, bounds])))
    for m in methods_in(pts):
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
    finish_log_axes(ax, "decodability rho(V)", "min parameters to store all facts",
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
    colours = method_palette(methods_in(rows))
    sns.lineplot(data=ok.sort_values("beta"), x="beta", y="param_count", hue="method",
                 hue_order=methods_in(ok) if len(ok) else None, palette=colours, marker="o",
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
