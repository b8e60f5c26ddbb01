"""Adapter: build the fact MLP and train the base LM for the editing stage (rule `edit_base`)."""

import pandas as pd
import torch

from factmlp.editing.corpus import make_corpus
from factmlp.editing.experiment import BaseSettings, corpus_facts, fact_embeddings, fact_mlp_seed, save_base, train_base
from factmlp.io import setup_logging, write_tsv
from factmlp.methods import get_method
from factmlp.tables import settings_json

log = setup_logging(snakemake.log[0])  # noqa: F821
torch.set_num_threads(snakemake.threads)  # noqa: F821
p, wc = snakemake.params, snakemake.wildcards  # noqa: F821
e = p.editing
corpus = make_corpus(e["n_subjects"], objects_per_subject=e["objects_per_subject"], authors=e["authors"],
                     n_train_templates=e["n_train_templates"], n_templates=e["n_templates"], seed=e["seed"])
vocab = fact_embeddings(corpus, e["d"], seed=e["seed"])
method = get_method(p.method, **p.settings)

def build(facts):
    return method.build(facts, p.size, seed=fact_mlp_seed(e["seed"]))[0]


mlp = build(corpus_facts(corpus, vocab))
settings = BaseSettings(**e["base"])
model, metrics = train_base(corpus, vocab, mlp, settings, seed=e["seed"], build=build)
save_base(snakemake.output.model, corpus, vocab, model, settings, metrics)  # noqa: F821
row = {"method": wc.base, "fact_mlp_method": p.method, "size": p.size, "hidden": mlp.hidden,
       "params": mlp.param_count(), "d": e["d"], "n_subjects": corpus.n_subjects, "n_objects": corpus.n_objects,
       **metrics, "settings": settings_json({**vars(method.settings), **e})}
write_tsv(pd.DataFrame([row]), snakemake.output.table)  # noqa: F821
log.info("example sentence: %s", corpus.text(0, 0))
