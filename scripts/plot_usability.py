"""Adapter: Fig 3 (usability: min usable size, capacity trade-off, Lipschitz) (rule `plot_usability`)."""

import pandas as pd

from factmlp.io import setup_logging
from factmlp.plots.common import save_figure
from factmlp.plots.usability import usability_figure

log = setup_logging(snakemake.log[0])  # noqa: F821
table = pd.read_csv(snakemake.input.usability, sep="\t")  # noqa: F821
fig = usability_figure(table, usable_at=snakemake.params.usable_at)  # noqa: F821
save_figure(fig, snakemake.output.pdf, snakemake.output.png, snakemake.output.svg)  # noqa: F821
log.info("wrote %s", snakemake.output.png)  # noqa: F821
