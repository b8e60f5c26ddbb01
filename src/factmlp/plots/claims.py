"""Figures of the claims the capacity tables decide: the numbers behind a row of results/claims.tsv.

- :func:`rho_fit_figure`  claim C3 (Dugan Fig. 2a): log min params on log(1/rho^2) at the design point,
  per seed, with the least-squares lines and R^2 of :func:`~factmlp.claims.capacity.rho_law_fit`
- :func:`c2_ratio_figure` claim C2 (Dugan Fig. 1, 2b): NTK / construction per point of the (d, alpha)
  grid, median over seeds with its range, lower bounds marked

Both compute their values with the claim's own functions (:mod:`factmlp.claims.capacity`), so a
figure shows what the claim decides. A claim whose sweep or point is not in the tables gets a
figure that says so (its row is ``n/a``), so the workflow can always draw both.
"""

from __future__ import annotations

from fractions import Fraction

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.legend_handler import HandlerTuple

from ..claims.capacity import RHO_LAW_CONSTRUCTION, median_over_seed_ratios, rho_law_fit, seed_ratios, seed_values
from .common import method_palette

__all__ = ["C2_THRESHOLDS", "c2_ratio_figure", "note_figure", "rho_fit_figure"]

#: Claim C2's pass thresholds (claims revision 3, docs/claims.md): every point >= 5x, one point >= 20x.
C2_THRESHOLDS = (5.0, 20.0)

# One marker per seed (cycled past the fourth seed); fitted lines take the seed's line style.
_SEED_MARKERS = ("o", "s", "D", "P")
_SEED_LINES = ("-", "--", ":", "-.")


def note_figure(title: str, text: str) -> plt.Figure:
    """A figure holding only ``title`` and ``text``: what a claim figure draws when its data is
    not in this config (the claim's row is then ``n/a`` for the same reason)."""
    sns.set_theme(style="white", context="paper")
    fig, ax = plt.subplots(figsize=(5.0, 2.0))
    ax.axis("off")
    ax.set_title(title)
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=ax.transAxes)
    return fig


# --------------------------------------------------------------------------- C3


def rho_fit_figure(cap: pd.DataFrame, rho: pd.DataFrame, families: dict, *, sweep: str, d: int,
                   n_facts: int) -> plt.Figure:
    """Claim C3: log min params against log(1/rho^2) at one point (d, n_facts) of ``sweep``.

    One panel per method: GD and the deciding construction (:data:`RHO_LAW_CONSTRUCTION` when the
    sweep has it, else ``construction``), then the orthogonal ``construction`` beside when the
    sweep has it. The value geometries are the sweep's families with untied spherical keys
    (``families[f]["keys"] == "spherical"``), as in the claim. One marker per (geometry, seed):
    filled where the seed stored every fact (x: that seed's rho from the rho table), an open
    upward triangle at ``max_probed_params`` where it stored nothing up to the search's cap (a
    lower bound, left out of the fit). Each geometry is labelled with its family name at its
    median point; one least-squares line per seed (:func:`rho_law_fit`), and the median R^2 over
    seeds in the legend. Returns a note figure (:func:`note_figure`) when there is nothing to fit.
    """
    title = f"claim C3: rho law, sweep '{sweep}' at d={d}, |K|={n_facts}"
    rows = cap[cap["sweep"] == sweep] if "sweep" in cap else cap.iloc[:0]
    if rows.empty:
        return note_figure(title, f"sweep '{sweep}' not in this config")
    rows = rows[(rows["d"] == d) & (rows["n_facts"] == n_facts)]
    geoms = sorted({f for f in rows["family"] if (families.get(f) or {}).get("keys") == "spherical"})
    rows = rows[rows["family"].isin(geoms)]
    deciding = ["gd", RHO_LAW_CONSTRUCTION if RHO_LAW_CONSTRUCTION in set(rows["method"]) else "construction"]
    methods = [m for m in dict.fromkeys([*deciding, "construction"]) if m in set(rows["method"])]
    r = rho[(rho["d"] == d) & (rho["n_facts"] == n_facts) & rho["family"].isin(geoms)][["family", "seed", "rho"]]
    for absent, what in ((not geoms, "no family with untied spherical keys"),
                         (not methods, "neither gd nor a construction"), (r.empty, "no rho measured")):
        if absent:
            return note_figure(title, f"sweep '{sweep}': {what} at d={d}, |K|={n_facts}")
    v = seed_values(rows, sweep, methods).merge(r, on=["family", "seed"])
    v["x"] = np.log(1.0 / v["rho"] ** 2)  # the rho law's regressor, per seed's own rho
    seeds = sorted(set(v["seed"]))
    style = {s: i % len(_SEED_MARKERS) for i, s in enumerate(seeds)}
    colours = method_palette(methods)
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, len(methods), figsize=(3.6 * len(methods) + 1.0, 3.6), sharex=True, sharey=True,
                             squeeze=False)
    for ax, m in zip(axes[0], methods):
        g = v[v["method"] == m]
        exact, lower = g[g["bound"] == "="], g[g["bound"] != "="]
        handles, labels, r2 = [], [], {}
        for s in seeds:
            pts = exact[exact["seed"] == s]
            if pts.empty:
                continue
            dots = ax.scatter(pts["x"], pts["value"], color=colours[m], marker=_SEED_MARKERS[style[s]], s=22,
                              zorder=3)
            fit = rho_law_fit(pts.rename(columns={"value": "param_count"}))
            r2[s] = fit["r2"]
            label = f"seed {s}: {fit['n']} geometries"
            if np.isfinite(fit["slope"]):
                xs = np.linspace(pts["x"].min(), pts["x"].max(), 20)
                (line,) = ax.plot(xs, np.exp(fit["intercept"] + fit["slope"] * xs), color=colours[m], lw=0.9,
                                  ls=_SEED_LINES[style[s]])
                dots, label = (dots, line), f"{label}, slope {fit['slope']:.2f}, R$^2$ {fit['r2']:.3f}"
            handles.append(dots)
            labels.append(label)
        if len(lower):
            handles.append(ax.scatter(lower["x"], lower["value"], marker="^", facecolors="none",
                                      edgecolors=colours[m], s=30, zorder=3))
            labels.append("stored nothing up to its cap (lower bound, not fitted)")
        for fam, gf in g.groupby("family"):  # at the median of its stored seeds, else of its bounds
            at = gf[gf["bound"] == "="] if (gf["bound"] == "=").any() else gf
            ax.annotate(fam, (at["x"].median(), at["value"].median()), fontsize=5, alpha=0.8, xytext=(3, 3),
                        textcoords="offset points")
        finite = [x for x in r2.values() if np.isfinite(x)]
        med = f"{np.median(finite):.3f} over {len(finite)} seed(s)" if finite else "n/a (no seed with a fit)"
        ax.legend(handles, labels, handler_map={tuple: HandlerTuple(ndivide=None)}, fontsize=5, loc="upper left",
                  title=f"{m}: median R$^2$ {med}", title_fontsize=6)
        ax.set(yscale="log", xlabel="log(1/rho$^2$), rho = min over values",
               title=m + (" (decides C3)" if m in deciding else " (beside, not deciding)"))
    axes[0][0].set_ylabel("min parameters to store all facts")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- C2


def _alpha_label(x: float, _pos=None) -> str:
    """alpha = |K| / d^2 as a fraction ('1/32'), or a decimal where it is none with a small denominator."""
    a = Fraction(x).limit_denominator(1024)
    return str(a) if abs(float(a) - x) < 1e-9 * max(x, 1) else f"{x:.3g}"


def c2_ratio_figure(cap: pd.DataFrame, *, sweep: str) -> plt.Figure:
    """Claim C2: NTK / construction min params per point of ``sweep`` against alpha = |K|/d^2.

    Ratios are computed per (point, seed) and summarised by the median over seeds with the min-max
    range as error bars (:func:`seed_ratios`, :func:`median_over_seed_ratios`, as the claim does).
    One line per d (per (d, family) when the sweep has several families); log2 x axis, log y axis.
    A median that is a lower bound (NTK stored nothing up to its cap at some seed, ``>=``) is an
    open upward triangle; an upper bound (the construction stored nothing, ``<=``) an open
    downward one; an undetermined one (``?``) a cross. Dashed: the pass thresholds 5x (every point)
    and 20x (one point). Returns a note figure when the sweep or its ratios are absent.
    """
    title = f"claim C2: NTK / construction, sweep '{sweep}'"
    if "sweep" not in cap or not (cap["sweep"] == sweep).any():
        return note_figure(title, f"sweep '{sweep}' not in this config")
    r = median_over_seed_ratios(seed_ratios(seed_values(cap, sweep, ["ntk", "construction"]), "ntk", "construction"))
    if r.empty:
        return note_figure(title, f"sweep '{sweep}': no point where both ntk and construction have a value")
    r = r.assign(alpha=r["n_facts"] / r["d"] ** 2).sort_values(["d", "family", "alpha"])
    several = r["family"].nunique() > 1
    series = list(dict.fromkeys(zip(r["d"], r["family"])))
    colours = dict(zip(series, sns.color_palette("viridis", len(series))))
    marks = {"=": dict(marker="o"), ">=": dict(marker="^", facecolors="none"),
             "<=": dict(marker="v", facecolors="none"), "?": dict(marker="x")}
    sns.set_theme(style="whitegrid", context="paper")
    fig, ax = plt.subplots(figsize=(6.8, 3.6))
    handles = []  # legend: the d lines, then the marker kinds present
    for (d, fam), g in r.groupby(["d", "family"], sort=False):
        c = colours[(d, fam)]
        handles += [ax.errorbar(g["alpha"], g["ratio"], yerr=[g["ratio"] - g["ratio_min"], g["ratio_max"] - g["ratio"]],
                    color=c, lw=1.2, capsize=2, label=f"d = {int(d)}" + (f" ({fam})" if several else ""))]
        for bound, gb in g.groupby("bound"):
            style = marks.get(bound, marks["?"])
            colour = {"edgecolors": c} if "facecolors" in style else {"color": c}
            ax.scatter(gb["alpha"], gb["ratio"], s=36, linewidths=1.2, zorder=4, **style, **colour)
    for bound, text in ((">=", "lower bound (NTK stored nothing up to its cap)"),
                        ("<=", "upper bound (construction stored nothing up to its cap)"), ("?", "undetermined")):
        if (r["bound"] == bound).any():
            style = marks[bound]
            colour = {"edgecolors": "0.3"} if "facecolors" in style else {"color": "0.3"}
            handles.append(ax.scatter([], [], s=36, linewidths=1.2, **style, **colour, label=text))
    for t, text in zip(C2_THRESHOLDS, ("every point must reach", "one point must reach")):
        ax.axhline(t, color="0.4", ls="--", lw=0.8)
        ax.annotate(f"{t:g}x: {text}", (0, t), xycoords=("axes fraction", "data"), xytext=(2, 2),
                    textcoords="offset points", fontsize=6, color="0.3")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(sorted(set(r["alpha"])))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_alpha_label))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.yaxis.set_major_formatter(matplotlib.ticker.LogFormatter())  # plain numbers, minor ones where few decades
    ax.yaxis.set_minor_formatter(matplotlib.ticker.LogFormatter())
    ax.set(xlabel="alpha = |K| / d$^2$", ylabel="NTK / construction min params", title=title)
    ax.legend(handles=handles, fontsize=6, title="median over seeds (bars: min-max)", title_fontsize=6,
              loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig
