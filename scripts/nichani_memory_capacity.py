"""Adapter: largest N one associative memory stores (rule `nichani_memory_capacity`)."""

import pandas as pd
import torch

from factmlp.devices import acquire_device, gpus_requested
from factmlp.io import setup_logging, write_tsv
from factmlp.jobstats import write_job_benchmark
from factmlp.nichani.associative import SearchSettings, TrainSettings, memory_capacity
from factmlp.tables import settings_json

log = setup_logging(snakemake.log[0])  # noqa: F821
torch.set_num_threads(snakemake.threads)  # noqa: F821
device = acquire_device(gpus_requested(snakemake.resources))  # noqa: F821  (runtime: factmlp.devices)
wc, s = snakemake.wildcards, snakemake.params.settings  # noqa: F821
row, probes = memory_capacity(wc.am, wc.memory, d=int(wc.d), m=int(wc.m), seed=int(wc.seed),
                              search=SearchSettings(**s["search"]),
                              train=TrainSettings(**s.get("train", {}), device=device), ntk=s.get("ntk", {}))
row["settings"] = settings_json(row["settings"])
write_tsv(pd.DataFrame([row]), snakemake.output.table, schema=f"nichani_{wc.am}")  # noqa: F821
key = {k: row[k] for k in ("family", "memory", "d", "m", "seed")}
write_tsv(pd.DataFrame([{**key, **p} for p in probes]), snakemake.output.probes, schema="nichani_memory_probes")  # noqa: F821
log.info("%s %s d=%s m=%s: largest N stored %s (%d probes)", wc.am, wc.memory, wc.d, wc.m, row["n_stored"],
         row["n_probes"])
write_job_benchmark(snakemake.output.benchmark)  # noqa: F821  (last: the whole job)
