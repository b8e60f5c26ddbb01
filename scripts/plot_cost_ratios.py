"""Adapter: min params of each method relative to GD, and bits stored per parameter, in the scaling sweep
(rule `plot_cost_ratios`)."""

import pandas as pd

from factmlp.io import setup_logging
from factmlp.plots.capacity import bits_figure, cost_ratio_figure
from factmlp.plots.common import save_figure

log = setup_logging(snakemake.log[0])  # noqa: F821
cap = pd.read_csv(snakemake.input.capacity, sep="\t")  # noqa: F821
fig = cost_ratio_figure(cap, sweep=snakemake.params.sweep)  # noqa: F821
save_figure(fig, snakemake.output.pdf, snakemake.output.png, snakemake.output.svg)  # noqa: F821
out = snakemake.output  # noqa: F821
save_figure(bits_figure(cap, sweep=snakemake.params.sweep), out.bits_pdf, out.bits_png, out.bits_svg)  # noqa: F821
log.info("wrote %s and %s", snakemake.output.png, snakemake.output.bits_png)  # noqa: F821
