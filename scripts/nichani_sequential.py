"""Adapter: loss curves of one model on the structured recall task (rule `nichani_sequential`)."""

import pandas as pd
import torch

from factmlp.io import setup_logging, write_tsv
from factmlp.jobstats import write_job_benchmark
from factmlp.nichani.recall_task import FactTask
from factmlp.nichani.sequential import SequentialSettings, stage_summary, train_sequential

log = setup_logging(snakemake.log[0])  # noqa: F821
torch.set_num_threads(snakemake.threads)  # noqa: F821
wc, p = snakemake.wildcards, snakemake.params.sequential  # noqa: F821
t = p["task"]
task = FactTask(t["subjects"], t["relations"], t["answers_per_relation"], t["length"], t["n_noise"], t["structured"])
settings = SequentialSettings(steps=p["steps"], batch_size=p["batch_size"], lr=p["lr"][wc.model],
                              init_scale=p["init_scale"], eval_every=p["eval_every"], eval_repeats=p["eval_repeats"])
curve = train_sequential(task, wc.model, settings=settings, seed=int(wc.seed))
meta = {"model": wc.model, "seed": int(wc.seed), "lr": settings.lr}
write_tsv(pd.DataFrame([{**meta, **r} for r in curve]), snakemake.output.curve, schema="nichani_sequential")  # noqa: F821
stages = stage_summary(curve, answers_per_relation=task.answers_per_relation, n_answers=task.n_answers,
                       tol=p["stage_tol"])
write_tsv(pd.DataFrame([{**meta, **stages}]), snakemake.output.stages, schema="nichani_stages")  # noqa: F821
log.info("%s: %s", wc.model, stages)
write_job_benchmark(snakemake.output.benchmark)  # noqa: F821  (last: the whole job)
