"""Adapter: rho(V) and separators u* of one fact set's values (rule `decodability`)."""

import torch

from factmlp.decodability import decodability, summarize
from factmlp.facts import FactSet
from factmlp.io import save_tensors, setup_logging, write_tsv
from factmlp.tables import job_row

log = setup_logging(snakemake.log[0])  # noqa: F821
torch.set_num_threads(snakemake.threads)  # noqa: F821
p, wc = snakemake.params, snakemake.wildcards  # noqa: F821
facts = FactSet.load(snakemake.input.facts)  # noqa: F821
dec = decodability(facts.values, batch_size=p.batch_size, tol=p.tol)
row = summarize(dec)
meta = {"family": wc.family, "d": int(wc.d), "n_facts": int(wc.n), "seed": int(wc.seed)}
save_tensors({"rho_i": dec.rho_i, "rho_upper": dec.rho_upper, "separators": dec.separators},
             snakemake.output.separators)  # noqa: F821
write_tsv(job_row(meta, row), snakemake.output.summary)  # noqa: F821
log.info("rho=%.6f (gap %.2e, %d infeasible)", row["rho"], row["rho_max_gap"], row["n_infeasible"])
