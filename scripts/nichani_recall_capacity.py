"""Adapter: largest |S| = |R| a one-layer Transformer stores (rule `nichani_recall_capacity`)."""

import pandas as pd
import torch

from factmlp.devices import acquire_device, gpus_requested
from factmlp.io import setup_logging, write_tsv
from factmlp.jobstats import write_job_benchmark
from factmlp.nichani.recall_task import RecallModelSpec, RecallTrainSettings, recall_capacity

log = setup_logging(snakemake.log[0])  # noqa: F821
torch.set_num_threads(snakemake.threads)  # noqa: F821
device = acquire_device(gpus_requested(snakemake.resources))  # noqa: F821  (runtime: factmlp.devices)
wc, p = snakemake.wildcards, snakemake.params  # noqa: F821
rec, task = p.recall, p.recall["task"]
spec = RecallModelSpec(int(wc.d), int(wc.heads), int(wc.dh), int(wc.m))
train = RecallTrainSettings(**{**rec["train"], "lrs": tuple(rec["train"]["lrs"])}, device=device)
row, probes = recall_capacity(spec, answers_per_relation=task["answers_per_relation"], length=task["length"],
                              n_noise=task["n_noise"], size_min=rec["size_min"], size_max=rec["size_max"],
                              rel_tol=rec["rel_tol"], settings=train, seed=int(wc.seed))
write_tsv(pd.DataFrame([row]), snakemake.output.table, schema="nichani_recall")  # noqa: F821
probe_rows = pd.DataFrame([{**vars(spec), "seed": int(wc.seed), **q} for q in probes])
write_tsv(probe_rows, snakemake.output.probes, schema="nichani_recall_probes")  # noqa: F821
log.info("%s: largest size %s (%s facts) with %d params", spec, row["size"], row["n_facts"], spec.param_count)
write_job_benchmark(snakemake.output.benchmark)  # noqa: F821  (last: the whole job)
