"""Figures from tidy tables: one method order and one palette for every figure.

Plot functions take a DataFrame and return a matplotlib Figure;
:func:`factmlp.plots.common.save_figure` writes PDF and PNG atomically. One module per stage:

- :mod:`factmlp.plots.common`     the method palette and order, :func:`~factmlp.plots.common.save_figure`
- :mod:`factmlp.plots.capacity`   capacity sweeps (scaling, rho law, anisotropy) and cost ratios (Dugan Fig. 1, 2, 5)
- :mod:`factmlp.plots.claims`     what claims C2 and C3 decide: the NTK/construction grid, the rho-law fit
- :mod:`factmlp.plots.quantized`  quantised storage: bits per weight bit and facts kept per format
- :mod:`factmlp.plots.usability`  usability in a Transformer (Dugan Fig. 3)
- :mod:`factmlp.plots.editing`    fact editing (Dugan Fig. 4)
- :mod:`factmlp.plots.nichani`    Nichani et al. Fig. 1, 4, 5

Import from the stage module (``from factmlp.plots.capacity import sweep_figure``). The package
imports none of them, so that a figure job's code hash (``factmlp.codehash``: what its script can
import) covers its stage only; it only selects matplotlib's non-interactive backend, once, before
any module of the package imports pyplot.
"""

import matplotlib

matplotlib.use("Agg")

__all__ = ["common", "capacity", "claims", "quantized", "usability", "editing", "nichani"]
