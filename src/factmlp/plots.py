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
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .io import atomic_path  # noqa: E402
from .tables import loglog_slope  # noqa: E402

__all__ = ["METHOD_ORDER", "PALETTE", "capacity_figure", "save_figure"]

# Dugan et al. colours: GD red, construction blue, NTK orange (variants in lighter shades).
METHOD_ORDER = ["gd", "construction", "construction_whitened", "ntk", "ntk_whitened", "ntk_ustar"]
PALETTE = {
    "gd": "#d62728",
    "construction": "#1f77b4",
    "construction_whitened": "#6baed6",
    "ntk": "#ff7f0e",
    "ntk_whitened": "#fdae6b",
    "ntk_ustar": "#8c564b",
}


def _methods(df: pd.DataFrame) -> list[str]:
    present = list(dict.fromkeys(df["method"]))
    return [m for m in METHOD_ORDER if m in present] + [m for m in present if m not in METHOD_ORDER]


def capacity_figure(df: pd.DataFrame, *, sweep: str) -> plt.Figure:
    """Min params vs #facts per method (log-log), one line per (method, family); slopes in legend."""
    rows = df[(df["sweep"] == sweep) & df["found"].astype(bool)].copy()
    if rows.empty:
        raise ValueError(f"capacity table has no successful rows for sweep {sweep!r}")
    methods = _methods(rows)
    labels = {}
    for (m, fam), g in rows.groupby(["method", "family"]):
        labels[(m, fam)] = f"{m} / {fam} (slope {loglog_slope(g['n_facts'], g['param_count']):.2f})"
    rows["series"] = [labels[(m, f)] for m, f in zip(rows["method"], rows["family"])]
    palette = {lab: PALETTE.get(m, None) for (m, _), lab in labels.items()}
    if any(v is None for v in palette.values()):
        palette = None
    several_families = rows["family"].nunique() > 1
    sns.set_theme(style="whitegrid", context="paper")
    fig, ax = plt.subplots(figsize=(5.0, 3.6))
    marks = dict(style="family", markers=True, dashes=False) if several_families else dict(marker="o")
    sns.lineplot(
        data=rows.sort_values("n_facts"), x="n_facts", y="param_count", hue="series",
        hue_order=[lab for m in methods for (mm, _), lab in labels.items() if mm == m],
        palette=palette, errorbar=("pi", 100), ax=ax, **marks,
    )
    ax.set(xscale="log", yscale="log", xlabel="number of facts |K|", ylabel="min parameters to store all facts",
           title=f"capacity sweep '{sweep}' (band: range over seeds)")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xticks(sorted(rows["n_facts"].unique()))
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.legend(fontsize=7, title="method / family (log-log slope)", title_fontsize=7)
    fig.tight_layout()
    return fig


def save_figure(fig: plt.Figure, *paths: str | os.PathLike) -> None:
    """Save ``fig`` to every path (format from the suffix), atomically, then close it."""
    for path in paths:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=os.path.splitext(str(path))[1].lstrip(".") or "png", dpi=200)
    plt.close(fig)
