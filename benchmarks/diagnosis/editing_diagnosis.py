"""Why an MLP swap misses edited facts (docs/claims.md, C8): one base LM per setting, then a swap.

    python -m benchmarks editing_diagnosis [--out benchmarks/results/editing_diagnosis.tsv]

The smoke editing setting (config/config.yaml: d = 64, 256 books, constructed fact MLP m' = 64)
with the base trained without decoys (the paper's protocol) and with decoys (0.8, 16 maps). For each
base and edit fraction (10%, 50%): the swap's efficacy, specificity and non-fact perplexity ratio as
the pipeline scores them, the efficacy with the router forced to the fact MLP at the object position
(r = 1), the router's mean weight there, and how much the other expert alone knows of the trained
map (accuracy and median rank of the true author among the objects, with r = 0). ~4 min on 2 cores.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

from factmlp.editing.base import BaseSettings, corpus_facts, fact_mlp_seed, make_base
from factmlp.editing.evaluation import EvalCache
from factmlp.editing.experiment import edit_plan
from factmlp.io import write_tsv
from factmlp.registry import get_method


def main(argv: list[str] | None = None) -> int | None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="benchmarks/results/editing_diagnosis.tsv")
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--size", type=int, default=64, help="the construction's m'")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    method = get_method("construction")

    def build(facts):  # the swapped-in MLP, built as make_base builds the base's
        return method.build(facts, args.size, seed=fact_mlp_seed(0))[0]

    rows = []
    for decoy in (0.0, 0.8):
        t = time.perf_counter()
        corpus, vocab, _, model, m = make_base(
            method, args.size, d=args.d, n_subjects=256, n_train_templates=8, n_templates=12, authors="bijection",
            objects_per_subject=0.5, settings=BaseSettings(decoy_fraction=decoy, n_decoys=16), seed=0)
        s, o = corpus.n_subjects, corpus.n_objects
        cache = EvalCache(model, corpus)
        z, r, other = cache.z[0], cache.r[0], cache.other[0]
        alone = model.readout(model.fact_output(z), torch.zeros_like(r), other)[:, -1, s:s + o]
        true = alone.gather(1, corpus.mapping[:, None])
        for fraction in (0.1, 0.5):
            edited, preserved, new_map = edit_plan(corpus, fraction, seed=0)
            mlp = build(corpus_facts(corpus, vocab, new_map))
            ev = cache.evaluate(mlp, edited, preserved, new_map, m["base_nonfact_ce"], same_hidden=False)
            fact = mlp(z.to(torch.float64)).to(z.dtype)
            forced = model.readout(fact, torch.ones_like(r), other)[:, -1, s:s + o].argmax(-1)
            rows.append({"decoy_fraction": decoy, "fraction": fraction, "n_edits": int(edited.numel()),
                         "base_recall": m["base_train_accuracy"], "swap_efficacy": ev["efficacy"],
                         "swap_specificity": ev["specificity"], "nonfact_ppl_ratio": ev["nonfact_ppl_ratio"],
                         "efficacy_router_forced": float((forced[edited] == new_map[edited]).double().mean()),
                         "router_at_object": float(r[:, -1].mean()),
                         "other_alone_accuracy": float((alone.argmax(-1) == corpus.mapping).double().mean()),
                         "other_alone_median_rank": float((alone > true).sum(1).double().median()),
                         "seconds": round(time.perf_counter() - t, 1)})
            print(rows[-1], flush=True)
    write_tsv(pd.DataFrame(rows), args.out)
    print(pd.DataFrame(rows).round(3).to_string())
