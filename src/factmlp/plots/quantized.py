"""Quantised storage (:mod:`factmlp.quantize`): bits stored per bit of weights and the facts the
float-minimal MLP keeps, per format."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from ..quantize import FORMATS
from ..schemas import validate_table
from ..tables import as_bool
from .common import method_palette, methods_in

__all__ = ["quantized_figure"]


def quantized_figure(table: pd.DataFrame) -> plt.Figure:
    """One column per format. Top: bits stored per bit of weights (information / weight bits,
    scales included) at the smallest size that stores every fact in that format, against d (median
    over the seeds that stored; a method that stored in no seed has no point). Bottom: the fraction
    of facts the float-minimal MLP still stores once quantised (mean over seeds)."""
    validate_table(table, "quantized", columns=["method", "d", "n_facts", "seed", "format", "found",
                                                "bits_per_weight_bit", "at_float_min_n_correct"],
                   source="quantized figure")
    if table.empty:
        raise ValueError("quantized table has no rows")
    formats = [f for f in FORMATS if f in set(table["format"])]
    methods = methods_in(table)
    pal = method_palette(methods)
    ok = table[as_bool(table["found"])]
    best = ok.groupby(["method", "format", "d"])["bits_per_weight_bit"].median().reset_index()
    kept = table.assign(kept=table["at_float_min_n_correct"] / table["n_facts"])
    kept = kept.groupby(["method", "format", "d"])["kept"].mean().reset_index()
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(2, len(formats), figsize=(2.6 * len(formats) + 1.6, 5.0), sharex=True, squeeze=False)
    for j, fmt in enumerate(formats):
        top, bottom = axes[0, j], axes[1, j]
        sub = best[best["format"] == fmt]
        if len(sub):
            sns.lineplot(data=sub.sort_values("d"), x="d", y="bits_per_weight_bit", hue="method", hue_order=methods,
                         palette=pal, marker="o", ax=top, legend=(j == len(formats) - 1))
        top.set(yscale="log", title=f"{fmt} ({FORMATS[fmt][1]} bits)", ylabel="bits per weight bit" if j == 0 else "")
        sns.lineplot(data=kept[kept["format"] == fmt].sort_values("d"), x="d", y="kept", hue="method",
                     hue_order=methods, palette=pal, marker="o", ax=bottom, legend=False)
        bottom.set(ylim=(-0.03, 1.03), xlabel="d", xscale="log",
                   ylabel="facts kept at the float minimum" if j == 0 else "")
        bottom.set_xticks(sorted(table["d"].unique()))
        bottom.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        bottom.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    if axes[0, -1].get_legend() is not None:
        sns.move_legend(axes[0, -1], "upper left", bbox_to_anchor=(1.02, 1), fontsize=7, title=None)
    fig.suptitle("quantised storage: smallest storing MLP per format (top), float minimum quantised (bottom)",
                 fontsize=9)
    fig.tight_layout()
    return fig
