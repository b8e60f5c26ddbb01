"""Adapter: build the fact MLP and train the base LM of one (base, seed) for the editing stage (rule `edit_base`)."""

import pandas as pd
import torch

from factmlp.devices import acquire_device, gpus_requested
from factmlp.editing.base import BaseSettings, make_base, save_base
from factmlp.io import setup_logging, write_tsv
from factmlp.jobstats import write_job_benchmark
from factmlp.registry import get_method
from factmlp.tables import settings_json

log = setup_logging(snakemake.log[0])  # noqa: F821
torch.set_num_threads(snakemake.threads)  # noqa: F821
p, wc = snakemake.params, snakemake.wildcards  # noqa: F821
e = p.editing
method, settings = get_method(p.method, **p.settings), BaseSettings(**e["base"])
corpus, vocab, mlp, model, metrics = make_base(
    method, p.size, d=e["d"], n_subjects=e["n_subjects"], n_train_templates=e["n_train_templates"],
    n_templates=e["n_templates"], authors=e["authors"], objects_per_subject=e["objects_per_subject"],
    settings=settings, seed=p.seed, device=acquire_device(gpus_requested(snakemake.resources)))  # noqa: F821
save_base(snakemake.output.model, corpus, vocab, model, settings, metrics)  # noqa: F821
row = {"method": wc.base, "seed": p.seed, "fact_mlp_method": p.method, "size": p.size, "hidden": mlp.hidden,
       "params": mlp.param_count(), "d": e["d"], "n_subjects": corpus.n_subjects, "n_objects": corpus.n_objects,
       **metrics, "settings": settings_json({**vars(method.settings), **e})}
write_tsv(pd.DataFrame([row]), snakemake.output.table, schema="editing_base")  # noqa: F821
log.info("example sentence: %s", corpus.text(0, 0))
write_job_benchmark(snakemake.output.benchmark)  # noqa: F821  (last: the whole job)
