"""Adapter: smallest MLP of each given method storing one fact set (rules `measure_capacity`,
one GD-trained method per job, and `measure_capacity_closed_form`, every closed-form method of
the fact set in one job). Writes one summary row per method and every probe."""

import pandas as pd
import torch

from factmlp.capacity import measure_capacity
from factmlp.facts import FactSet
from factmlp.io import setup_logging, write_tsv
from factmlp.methods import get_method
from factmlp.tables import settings_json

log = setup_logging(snakemake.log[0])  # noqa: F821
torch.set_num_threads(snakemake.threads)  # noqa: F821
p, wc = snakemake.params, snakemake.wildcards  # noqa: F821
facts = FactSet.load(snakemake.input.facts)  # noqa: F821
summaries, probes = [], []
for name, settings in p.methods.items():
    method = get_method(name, **settings)
    result = measure_capacity(facts, method, seed=p.seed, width_min=p.width_min, width_max=p.width_max,
                              rel_tol=p.rel_tol)
    meta = {"method": name, "family": wc.family, "d": facts.d, "n_facts": facts.n_facts,
            "n_values": facts.n_values, "seed": p.seed, "settings": settings_json(vars(method.settings))}
    summaries.append({**meta, **result.summary()})
    probes += [{**meta, **vars(pr)} for pr in result.probes]
    log.info("%s: min width %s, params %s, %d probes, %.1fs", name, result.min_width, result.param_count,
             result.n_probes, result.seconds)
write_tsv(pd.DataFrame(probes), snakemake.output.probes)  # noqa: F821
write_tsv(pd.DataFrame(summaries), snakemake.output.summary)  # noqa: F821
