"""Adapter: the figure of one capacity sweep (rule `plot_capacity`)."""

import pandas as pd

from factmlp.io import setup_logging
from factmlp.plots.capacity import sweep_figure
from factmlp.plots.common import save_figure

log = setup_logging(snakemake.log[0])  # noqa: F821
inp, out, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
cap = pd.read_csv(inp.capacity, sep="\t")
rho = pd.read_csv(inp.rho, sep="\t")
fig = sweep_figure(p.figure, cap, rho, dict(p.families), sweep=p.sweep)
save_figure(fig, out.pdf, out.png, out.svg)
log.info("wrote %s and %s", out.pdf, out.png)
