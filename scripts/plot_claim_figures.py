"""Adapter: the figures of claims C3 (rho law fit) and C2 (NTK/construction grid) (rule `plot_claim_figures`)."""

import pandas as pd

from factmlp.io import setup_logging
from factmlp.plots.claims import c2_ratio_figure, rho_fit_figure
from factmlp.plots.common import save_figure

log = setup_logging(snakemake.log[0])  # noqa: F821
inp, out, p = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
cap = pd.read_csv(inp.capacity, sep="\t")
rho = pd.read_csv(inp.rho, sep="\t")
c3 = dict(p.c3)
fig = rho_fit_figure(cap, rho, dict(p.families), sweep=c3["sweep"], d=int(c3["d"]), n_facts=int(c3["n_facts"]))
save_figure(fig, out.rho_fit_pdf, out.rho_fit_png, out.rho_fit_svg)
log.info("C3 at sweep %s d=%s |K|=%s: wrote %s", c3["sweep"], c3["d"], c3["n_facts"], out.rho_fit_pdf)
save_figure(c2_ratio_figure(cap, sweep=p.c2["sweep"]), out.c2_ratios_pdf, out.c2_ratios_png,
            out.c2_ratios_svg)
log.info("C2 on sweep %s: wrote %s", p.c2["sweep"], out.c2_ratios_pdf)
