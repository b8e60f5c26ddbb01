"""Adapter: quantised storage of one fact set (rule `measure_quantized`; factmlp.quantize)."""

import pandas as pd
import torch

from factmlp.devices import acquire_device, gpus_requested
from factmlp.facts import FactSet
from factmlp.io import setup_logging, write_tsv
from factmlp.jobstats import write_job_benchmark
from factmlp.quantize import quantized_tables
from factmlp.registry import is_trained

log = setup_logging(snakemake.log[0])  # noqa: F821
torch.set_num_threads(snakemake.threads)  # noqa: F821
device = acquire_device(gpus_requested(snakemake.resources))  # noqa: F821  (runtime: factmlp.devices)
p, wc = snakemake.params, snakemake.wildcards  # noqa: F821
facts = FactSet.load(snakemake.input.facts)  # noqa: F821
float_rows = {}
for method, path in p.members.items():  # each method's row of its capacity table on this fact set
    table = pd.read_csv(path, sep="\t")
    float_rows[method] = table[table["method"] == method].iloc[0].to_dict()
methods = {m: {**s, "device": device} if is_trained(m) else s for m, s in p.methods.items()}  # GD on the job's device
rows = quantized_tables(facts, methods, float_rows, list(p.formats), family=wc.family, seed=p.seed,
                        mapping=p.mapping, width_min=p.width_min, width_max=p.width_max, rel_tol=p.rel_tol,
                        scale_dtype=p.scale_dtype, max_factor=p.max_factor)
write_tsv(pd.DataFrame(rows), snakemake.output.table, schema="quantized_job")  # noqa: F821
write_job_benchmark(snakemake.output.benchmark)  # noqa: F821  (last: the whole job)
