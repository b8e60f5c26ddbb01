"""Adapter: sequential editing, score against edits made, one line per editor, per base (rule `plot_sequential`)."""

import pandas as pd

from factmlp.io import setup_logging
from factmlp.plots.common import save_figure
from factmlp.plots.editing import sequential_figure

log = setup_logging(snakemake.log[0])  # noqa: F821
best = pd.read_csv(snakemake.input.best, sep="\t")  # noqa: F821
out = snakemake.output  # noqa: F821
save_figure(sequential_figure(best), out.pdf, out.png, out.svg)
log.info("wrote %s", out.png)
