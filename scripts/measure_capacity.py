"""Adapter: smallest MLP of one method storing one fact set (rule `measure_capacity`)."""

import pandas as pd
import torch

from factmlp.capacity import measure_capacity
from factmlp.facts import FactSet
from factmlp.io import setup_logging, write_tsv
from factmlp.methods import get_method
from factmlp.tables import job_row, settings_json

log = setup_logging(snakemake.log[0])  # noqa: F821
torch.set_num_threads(snakemake.threads)  # noqa: F821
p, wc = snakemake.params, snakemake.wildcards  # noqa: F821
facts = FactSet.load(snakemake.input.facts)  # noqa: F821
method = get_method(wc.method, **p.settings)
result = measure_capacity(facts, method, seed=p.seed, width_min=p.width_min, width_max=p.width_max,
                          rel_tol=p.rel_tol)
meta = {"method": wc.method, "family": wc.family, "d": facts.d, "n_facts": facts.n_facts,
        "n_values": facts.n_values, "seed": p.seed, "settings": settings_json(vars(method.settings))}
write_tsv(pd.DataFrame([{**meta, **vars(pr)} for pr in result.probes]), snakemake.output.probes)  # noqa: F821
write_tsv(job_row(meta, result.summary()), snakemake.output.summary)  # noqa: F821
log.info("%s: min width %s, params %s, %d probes, %.1fs", wc.method, result.min_width, result.param_count,
         result.n_probes, result.seconds)
