"""Adapter: accuracy of one (heads, MLP width) model on the trade-off task (rule `nichani_tradeoff`)."""

import pandas as pd
import torch

from factmlp.devices import acquire_device, gpus_requested
from factmlp.io import setup_logging, write_tsv
from factmlp.jobstats import write_job_benchmark
from factmlp.nichani.recall_task import FactTask, RecallModelSpec, RecallTrainSettings, tradeoff_cell

log = setup_logging(snakemake.log[0])  # noqa: F821
torch.set_num_threads(snakemake.threads)  # noqa: F821
device = acquire_device(gpus_requested(snakemake.resources))  # noqa: F821  (runtime: factmlp.devices)
wc, p = snakemake.wildcards, snakemake.params  # noqa: F821
tr, t = p.tradeoff, p.tradeoff["task"]
task = FactTask(t["subjects"], t["relations"], t["answers_per_relation"], t["length"], t["n_noise"])
spec = RecallModelSpec(tr["d"], int(wc.heads), tr["head_dim"], int(wc.m))
train = RecallTrainSettings(**{**tr["train"], "lrs": tuple(tr["train"]["lrs"])}, device=device)
row = tradeoff_cell(task, spec, settings=train, seed=int(wc.seed))
write_tsv(pd.DataFrame([row]), snakemake.output.table, schema="nichani_tradeoff")  # noqa: F821
write_job_benchmark(snakemake.output.benchmark)  # noqa: F821  (last: the whole job)
