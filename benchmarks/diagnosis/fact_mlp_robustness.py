"""How far from its keys does a fact MLP still recall? Storage accuracy under input mixing.

    python -m benchmarks fact_mlp_robustness \
        --mlp '4096;construction;64;{"bucket_size": 128, "constant_neurons": 1}' \
        --mlp '4096;hebbian_whitened;2048;{}'

Each ``--mlp`` is ``books;method;size;settings-JSON``: the fact MLP the editing stage would build
for that many books (factmlp.editing.base: bijection authors, spherical embeddings at
``--d``, the base's build seed). Inputs are z = a k + (1 - a) u rescaled to the key's norm, for
1,024 sampled keys k and u a random template-word embedding or another subject's key; the table
gives the storage accuracy (argmax over the objects of <g(z), v>) at each a. Inside the editing
LM the attention delivers such mixtures to the MLP slot (it never puts weight exactly 1 on the
subject), so an MLP that recalls only at a = 1 cannot be read by a trained base: the capacity-
usability tradeoff of Dugan et al. (Fig 3), here for the editing stage (docs/claims.md C8).
Appends one row per (MLP, mixing partner) to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
import torch

from factmlp.editing.base import corpus_facts, fact_embeddings, fact_mlp_seed
from factmlp.editing.corpus import make_corpus
from factmlp.facts import FactSet, evaluate_mlp
from factmlp.io import write_tsv
from factmlp.registry import get_method

ALPHAS = (1.0, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5)


@torch.no_grad()
def mixing_accuracy(mlp, keys: torch.Tensor, values: torch.Tensor, mapping: torch.Tensor, partners: torch.Tensor,
                    alphas=ALPHAS) -> list[float]:
    """Storage accuracy (factmlp.facts.evaluate_mlp) at each a of inputs a k + (1 - a) u (row-wise,
    ``partners`` u), rescaled to |k|."""
    out = []
    for a in alphas:
        z = a * keys + (1 - a) * partners
        z = z / z.norm(dim=1, keepdim=True) * keys.norm(dim=1, keepdim=True)
        out.append(evaluate_mlp(mlp, FactSet(z, values, mapping))["accuracy"])
    return out


def main(argv: list[str] | None = None) -> int | None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mlp", action="append", required=True, help="books;method;size;settings-JSON")
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--sample", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="benchmarks/results/fact_mlp_robustness.tsv")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for spec in args.mlp:
        books, method, size, settings = spec.split(";")
        corpus = make_corpus(int(books), authors="bijection", n_train_templates=8, n_templates=12, seed=args.seed)
        vocab = fact_embeddings(corpus, args.d, seed=args.seed)
        facts = corpus_facts(corpus, vocab)
        t0 = time.perf_counter()
        mlp, _ = get_method(method, **json.loads(settings)).build(facts, int(size), seed=fact_mlp_seed(args.seed))
        build_s = time.perf_counter() - t0
        keys, values = facts.keys.to(torch.float64), facts.values.to(torch.float64)
        g = torch.Generator().manual_seed(args.seed + 1)
        idx = torch.randperm(keys.shape[0], generator=g)[:args.sample]
        words = vocab[corpus.n_subjects + corpus.n_objects:].to(torch.float64)
        partners = {"template word": words[torch.randint(words.shape[0], (idx.numel(),), generator=g)],
                    "other subject": keys[torch.randint(keys.shape[0], (idx.numel(),), generator=g)]}
        hidden = getattr(mlp, "hidden", None)
        for name, u in partners.items():
            acc = mixing_accuracy(mlp, keys[idx], values, facts.mapping[idx], u)
            row = {"books": int(books), "d": args.d, "method": method, "size": int(size), "settings": settings,
                   "hidden": hidden, "partner": name, **{f"a={a:g}": round(v, 4) for a, v in zip(ALPHAS, acc)},
                   "build_s": round(build_s, 1)}
            print(row, flush=True)
            rows.append(row)
    out = Path(args.out)
    old = pd.read_csv(out, sep="\t").to_dict("records") if out.is_file() else []
    write_tsv(pd.DataFrame(old + rows), out)
