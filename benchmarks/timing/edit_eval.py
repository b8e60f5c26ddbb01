"""Benchmark: cost of one edit evaluation and one delta fit at thousands of facts, full passes vs
the last-position paths (``editing.grid.eval_subjects`` / ``fit_last_position``), same run.

    python -m benchmarks edit_eval [--books 4096] [--d 128] [--size 64] [--threads 2]

The setting of config/medium.yaml's ``construction_4096`` base (d = 128, buckets of 128 keys, one
constant neuron, m' = 64: hidden 2,112). The base LM is left untrained: the cost of an evaluation
or a fit does not depend on the trained weights. Per path: the EvalCache build, one evaluation of
a down-projection edit (ROME/MEMIT/AlphaEdit: cached hidden activations) and of a swapped MLP, and
``--steps`` Adam steps of fit_deltas on ``--fraction`` of the books (no early stop). The scores of
the two evaluation paths are printed side by side (the same accuracies; the perplexity ratio on
``--eval-subjects`` books against the base on the same books). Writes one row per path.
"""

from __future__ import annotations

import argparse
import copy

import pandas as pd
import torch

from benchmarks.common import timed
from factmlp.editing.base import corpus_facts, fact_embeddings, fact_mlp_seed, nonfact_ce
from factmlp.editing.corpus import make_corpus
from factmlp.editing.editors import fit_deltas
from factmlp.editing.evaluation import EvalCache
from factmlp.editing.experiment import edit_plan
from factmlp.editing.lm import EditLM
from factmlp.io import write_tsv
from factmlp.registry import get_method
from factmlp.transformer import mlp_input_scale


def main(argv: list[str] | None = None) -> int | None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--books", type=int, default=4096)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--size", type=int, default=64, help="m' of the construction (hidden = ceil(books/d) m' + 1)")
    ap.add_argument("--fraction", type=float, default=0.1)
    ap.add_argument("--steps", type=int, default=25, help="fit_deltas steps timed per path")
    ap.add_argument("--eval-subjects", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-full", action="store_true", help="time the last-position paths only")
    ap.add_argument("--out", default="benchmarks/results/edit_eval.tsv")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    corpus = make_corpus(args.books, authors="bijection", n_train_templates=8, n_templates=12, seed=0)
    vocab = fact_embeddings(corpus, args.d, seed=0)
    method = get_method("construction", bucket_size=args.d, constant_neurons=1)
    facts = corpus_facts(corpus, vocab)
    mlp, _ = method.build(facts, args.size, seed=fact_mlp_seed(0))
    model = EditLM(vocab, mlp, mlp_scale=mlp_input_scale(facts.keys, 0.2), seed=1)
    edited, preserved, new = edit_plan(corpus, args.fraction, seed=0)
    swap, _ = method.build(corpus_facts(corpus, vocab, new), args.size, seed=fact_mlp_seed(0))
    down = copy.deepcopy(mlp)
    with torch.no_grad():
        down.down.weight.mul_(1.01)
    tokens = corpus.sentences(edited, 0, new)
    base_ce = float("nan")
    # warm-up outside the timings: the first optimizer of a process imports torch._dynamo (~1.5 s)
    fit_deltas(model, tokens[:2, :-1], tokens[:2, -1], steps=1, lr=0.1, weight_decay=0.0, stop_loss=None)
    rows = []
    paths = [("last_position", args.eval_subjects, True)] + ([] if args.skip_full else [("full", 0, False)])
    for name, eval_subjects, last in paths:
        if not eval_subjects:
            base_ce, base_ce_s = timed(lambda: nonfact_ce(model, corpus))
        else:
            base_ce_s = 0.0
        cache, build_s = timed(lambda: EvalCache(model, corpus, eval_subjects=eval_subjects, seed=0))
        res_down, down_s = timed(lambda: cache.evaluate(down, edited, preserved, new, base_ce, same_hidden=True))
        res_swap, swap_s = timed(lambda: cache.evaluate(swap, edited, preserved, new, base_ce, same_hidden=False))
        _, fit_s = timed(lambda: fit_deltas(model, tokens[:, :-1], tokens[:, -1], steps=args.steps, lr=0.1,
                                             weight_decay=0.0, stop_loss=None, last_position=last))
        rows.append({"path": name, "books": args.books, "d": args.d, "hidden": mlp.hidden, "n_edits": len(edited),
                     "threads": args.threads, "cache_s": round(build_s + base_ce_s, 2),
                     "eval_down_s": round(down_s, 2), "eval_swap_s": round(swap_s, 2),
                     f"fit_{args.steps}_steps_s": round(fit_s, 2),
                     **{f"down_{k}": round(v, 6) for k, v in res_down.items()},
                     **{f"swap_{k}": round(v, 6) for k, v in res_swap.items()}})
        print(rows[-1], flush=True)
    write_tsv(pd.DataFrame(rows), args.out)
