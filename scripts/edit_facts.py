"""Adapter: edit one fraction of one (base, seed)'s facts with every editor (rule `edit_facts`)."""

import pandas as pd
import torch

from factmlp.editing.base import load_base
from factmlp.editing.experiment import EditSettings, run_edits
from factmlp.io import setup_logging, write_tsv
from factmlp.registry import get_method

log = setup_logging(snakemake.log[0])  # noqa: F821
torch.set_num_threads(snakemake.threads)  # noqa: F821
p, wc = snakemake.params, snakemake.wildcards  # noqa: F821
e = p.editing
corpus, vocab, model, metrics = load_base(snakemake.input.model)  # noqa: F821
rows = run_edits(model, corpus, vocab, get_method(p.method, **p.settings), p.size, p.fraction,
                 EditSettings.from_config(e["grid"]),
                 base_ce=metrics["base_nonfact_ce"], seed=p.seed, editors=tuple(e["editors"]),
                 swap_seed=e["swap_seed"])
table = pd.DataFrame([{"method": wc.base, "seed": p.seed, "fact_mlp_method": p.method, **r} for r in rows])
write_tsv(table, snakemake.output.table, schema="editing")  # noqa: F821
best = table.loc[table.groupby("editor")["score_gm"].idxmax()]
for r in best.itertuples():
    log.info("%s: score %.3f (efficacy %.3f, paraphrase %.3f, specificity %.3f, ppl ratio %.3f) %s", r.editor,
             r.score_gm, r.efficacy, r.paraphrase, r.specificity, r.nonfact_ppl_ratio, r.hyperparameters)
