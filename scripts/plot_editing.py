"""Adapter: Fig 4, editing score vs number of edited facts, mean and range over seeds (rule `plot_editing`)."""

import pandas as pd

from factmlp.io import setup_logging
from factmlp.plots.common import save_figure
from factmlp.plots.editing import editing_figure

log = setup_logging(snakemake.log[0])  # noqa: F821
best = pd.read_csv(snakemake.input.best, sep="\t")  # noqa: F821
out = snakemake.output  # noqa: F821
save_figure(editing_figure(best), out.pdf, out.png, out.svg)
log.info("wrote %s", snakemake.output.png)  # noqa: F821
