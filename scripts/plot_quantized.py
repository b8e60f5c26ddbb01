"""Adapter: the quantised-storage figure (rule `plot_quantized`)."""

import pandas as pd

from factmlp.io import setup_logging
from factmlp.plots.common import save_figure
from factmlp.plots.quantized import quantized_figure

log = setup_logging(snakemake.log[0])  # noqa: F821
table = pd.read_csv(snakemake.input.table, sep="\t")  # noqa: F821
out = snakemake.output  # noqa: F821
save_figure(quantized_figure(table), out.pdf, out.png, out.svg)
log.info("wrote %s", snakemake.output.png)  # noqa: F821
