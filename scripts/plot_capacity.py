"""Adapter: min params vs #facts figure of one capacity sweep (rule `plot_capacity`)."""

import pandas as pd

from factmlp.io import setup_logging
from factmlp.plots import capacity_figure, save_figure

log = setup_logging(snakemake.log[0])  # noqa: F821
table = pd.read_csv(snakemake.input.table, sep="\t")  # noqa: F821
fig = capacity_figure(table, sweep=snakemake.params.sweep)  # noqa: F821
save_figure(fig, snakemake.output.pdf, snakemake.output.png)  # noqa: F821
log.info("wrote %s and %s", snakemake.output.pdf, snakemake.output.png)  # noqa: F821
