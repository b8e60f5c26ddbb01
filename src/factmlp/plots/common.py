"""The palette, method order and file output shared by every figure.

Why no list of method names here: the method registry (:mod:`factmlp.registry`) is the one list
of methods, and the config schema reads it (:func:`factmlp.config.load_schema`). The plots only
keep *style*: :data:`PALETTE` gives the Dugan et al. colours to the methods it names, and its
order is the legend order. A method it does not name (a newly registered one) still plots: it
follows the named ones in the order the table gives, with a colour derived from its name alone
(:func:`fallback_colour`), so it gets the same colour in every figure and every run.
"""

from __future__ import annotations

import colorsys
import hashlib
import os

import matplotlib.pyplot as plt
import pandas as pd

from ..io import atomic_path

__all__ = ["PALETTE", "fallback_colour", "save_figure", "method_palette", "methods_in", "finish_log_axes"]

# Dugan et al. colours: GD red, construction blue, NTK orange (variants in lighter shades). The
# order of this dict is the legend order of the methods it names.
PALETTE = {
    "gd": "#d62728",
    "gd_encdec": "#9467bd",
    "gd_encdec_free": "#c5b0d5",
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


def fallback_colour(name: str) -> tuple[float, float, float]:
    """A colour for a name that has none in a palette: a hue from the name's SHA-256 (not
    Python's salted ``hash``), at the saturation and lightness of a mid-tone, so it is the same
    in every figure and every run whatever else the figure shows."""
    hue = int.from_bytes(hashlib.sha256(str(name).encode()).digest()[:4], "big") / 2**32
    return colorsys.hls_to_rgb(hue, 0.45, 0.65)


def method_palette(methods) -> dict:
    """PALETTE, with :func:`fallback_colour` for any method it does not name (a newly added method)."""
    return {**PALETTE, **{m: fallback_colour(m) for m in methods if m not in PALETTE}}


def methods_in(df: pd.DataFrame) -> list[str]:
    """The methods of ``df``: those PALETTE names in its order, then the others as they appear."""
    present = list(dict.fromkeys(df["method"]))
    return [m for m in PALETTE if m in present] + [m for m in present if m not in PALETTE]


def save_figure(fig: plt.Figure, *paths: str | os.PathLike) -> None:
    """Save ``fig`` to every path (format from the suffix: pdf, png, svg), atomically, then close it.
    PDF and SVG carry no creation date and SVG ids are salted with a constant, so a redrawn figure
    gives the same file."""
    for path in paths:
        fmt = os.path.splitext(str(path))[1].lstrip(".").lower() or "png"
        meta = {"CreationDate": None} if fmt == "pdf" else {"Date": None} if fmt == "svg" else None
        with atomic_path(path) as tmp, plt.rc_context({"svg.hashsalt": "factmlp"}):
            fig.savefig(tmp, format=fmt, dpi=200, metadata=meta)
    plt.close(fig)

def finish_log_axes(ax, xlabel: str, ylabel: str, title: str) -> None:
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(fontsize=6, title_fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
