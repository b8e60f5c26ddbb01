"""Adapter: smallest MLP of one GD-trained method storing one fact set (rule `measure_capacity`).
Writes the method's summary row and every probe."""

import pandas as pd
import torch

from factmlp.capacity import capacity_tables
from factmlp.devices import acquire_device, gpus_requested
from factmlp.facts import FactSet
from factmlp.io import setup_logging, write_tsv
from factmlp.jobstats import write_job_benchmark

log = setup_logging(snakemake.log[0])  # noqa: F821
torch.set_num_threads(snakemake.threads)  # noqa: F821
device = acquire_device(gpus_requested(snakemake.resources))  # noqa: F821  (runtime: factmlp.devices)
p, wc = snakemake.params, snakemake.wildcards  # noqa: F821
facts = FactSet.load(snakemake.input.facts)  # noqa: F821
methods = {m: {**s, "device": device} for m, s in p.methods.items()}  # GD-trained methods only
# gd_encdec*: the construction's rows of this fact set (its closed-form job's table), to build at its sizes
refs = [pd.read_csv(f, sep="\t") for f in snakemake.input.get("reference", [])]  # noqa: F821
references = {r["method"]: r for t in refs for r in t.to_dict("records")}
summaries, probes = capacity_tables(facts, methods, family=wc.family, seed=p.seed, width_min=p.width_min,
                                    width_max=p.width_max, rel_tol=p.rel_tol, references=references)
write_tsv(pd.DataFrame(probes), snakemake.output.probes, schema="capacity_probes")  # noqa: F821
write_tsv(pd.DataFrame(summaries), snakemake.output.summary, schema="capacity_job")  # noqa: F821
write_job_benchmark(snakemake.output.benchmark)  # noqa: F821  (last: the whole job)
