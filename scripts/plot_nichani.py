"""Adapter: the Nichani et al. figures (rules `plot_nichani_memories`, `_recall`, `_sequential`)."""

import pandas as pd

from factmlp.io import setup_logging
from factmlp.plots.common import save_figure
from factmlp.plots.nichani import nichani_memory_figure, nichani_recall_figure, nichani_sequential_figure

log = setup_logging(snakemake.log[0])  # noqa: F821
inp, out = snakemake.input, snakemake.output  # noqa: F821
tables = {name: pd.read_csv(path, sep="\t") for name, path in inp.items()}
if snakemake.rule == "plot_nichani_memories":  # noqa: F821
    fig = nichani_memory_figure(tables.get("linear"), tables.get("mlp"))
elif snakemake.rule == "plot_nichani_recall":  # noqa: F821
    fig = nichani_recall_figure(tables.get("recall"), tables.get("tradeoff"))
else:
    p = snakemake.params  # noqa: F821
    fig = nichani_sequential_figure(tables["sequential"], tables["stages"], answers_per_relation=p.answers_per_relation,
                                    stage_tol=p.stage_tol)
save_figure(fig, out.pdf, out.png, out.svg)
log.info("wrote %s and %s", out.pdf, out.png)
