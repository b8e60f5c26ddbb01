"""Adapter: sequential editing of one (base, seed) with every editor (rule `edit_sequential`)."""

import pandas as pd
import torch

from factmlp.editing.base import load_base
from factmlp.editing.experiment import EditSettings
from factmlp.editing.sequential import run_sequential
from factmlp.io import setup_logging, write_tsv
from factmlp.registry import get_method

log = setup_logging(snakemake.log[0])  # noqa: F821
torch.set_num_threads(snakemake.threads)  # noqa: F821
p, wc = snakemake.params, snakemake.wildcards  # noqa: F821
q = p.sequential
corpus, vocab, model, metrics = load_base(snakemake.input.model)  # noqa: F821
rows = run_sequential(model, corpus, vocab, get_method(p.method, **p.settings), p.size,
                      EditSettings.from_config(q["grid"]),
                      batch=q["batch"], rounds=q["rounds"], base_ce=metrics["base_nonfact_ce"], seed=p.seed,
                      editors=tuple(q["editors"]), swap_seed=q["swap_seed"])
table = pd.DataFrame([{"method": wc.base, "seed": p.seed, "fact_mlp_method": p.method, **r} for r in rows])
write_tsv(table, snakemake.output.table, schema="editing_sequential")  # noqa: F821
last = table[table["round"] == q["rounds"]]
for r in last.loc[last.groupby("editor")["score_gm"].idxmax()].itertuples():
    log.info("%s after %d rounds (%d edits): score %.3f (efficacy %.3f, specificity %.3f), %.2f s/round %s",
             r.editor, r.round, r.n_edited, r.score_gm, r.efficacy, r.specificity,
             table[(table["editor"] == r.editor) & (table["hyperparameters"] == r.hyperparameters)]["seconds"].mean(),
             r.hyperparameters)
