"""Does a base LM of the editing stage learn every template? Train one base, print its recall per template.

    PYTHONPATH=src python3 benchmarks/edit_base_recall.py --books 256 --d 128 --method construction \
        --size 128 --base '{"lr": 0.001, "epochs": 200}' [--method-settings '{"bucket_size": 128}']

The editing stage's protocol (factmlp.editing.experiment.train_base: bijection authors, 8 of 12
templates trained, the fact MLP frozen), with the smoke/medium base settings as defaults (cosine lr
3e-3 with 5% warm-up, decoys 0.8 x 16, 100 epochs) and ``--base`` (JSON) over them. Prints and
appends to ``--out`` one row: the settings, base recall on the trained templates and per template
(12 values: 0-7 trained, 8-11 held out), the seconds. docs/claims.md (C8) quotes these runs:
at d = 128, lr 3e-3 leaves whole templates at recall 0 for some fact MLPs (hidden-640 construction:
templates 5-7), lr 1e-3 for 200 epochs trains them; the 4,096-book base
(``--books 4096 --size 64 --method-settings '{"bucket_size": 128, "constant_neurons": 1}'
--base '{"epochs": 8}'``) does not train.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
import torch

from factmlp.editing.corpus import make_corpus
from factmlp.editing.experiment import (
    BaseSettings,
    corpus_facts,
    fact_accuracy,
    fact_embeddings,
    fact_mlp_seed,
    train_base,
)
from factmlp.io import write_tsv
from factmlp.methods import get_method

BASE_DEFAULTS = dict(epochs=100, batch_size=64, lr=3e-3, schedule="cosine", warmup=0.05, decoy_fraction=0.8,
                     n_decoys=16)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--books", type=int, default=256)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--method", default="construction")
    ap.add_argument("--size", type=int, default=80)
    ap.add_argument("--method-settings", default="{}", help="JSON: the fact MLP method's settings")
    ap.add_argument("--base", default="{}", help="JSON: BaseSettings over the defaults of this script")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--mix-templates", action="store_true", help='the same as --base \'{"batching": "mixed"}\'')
    ap.add_argument("--out", default="benchmarks/results/edit_base_recall.tsv")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    method_settings, base = json.loads(args.method_settings), {**BASE_DEFAULTS, **json.loads(args.base)}
    if args.mix_templates:
        base["batching"] = "mixed"
    corpus = make_corpus(args.books, authors="bijection", n_train_templates=8, n_templates=12, seed=args.seed)
    vocab = fact_embeddings(corpus, args.d, seed=args.seed)
    method = get_method(args.method, **method_settings)

    def build(facts):
        return method.build(facts, args.size, seed=fact_mlp_seed(args.seed))[0]

    t0 = time.perf_counter()
    model, metrics = train_base(corpus, vocab, build(corpus_facts(corpus, vocab)), BaseSettings(**base),
                                seed=args.seed, build=build)
    subjects = torch.arange(corpus.n_subjects)
    per_template = [fact_accuracy(model, corpus, subjects, [j]) for j in range(len(corpus.templates))]
    row = {"books": args.books, "d": args.d, "method": args.method, "size": args.size,
           "method_settings": json.dumps(method_settings, sort_keys=True), "base": json.dumps(base, sort_keys=True),
           "mix_templates": base.get("batching") == "mixed", "recall": metrics["base_train_accuracy"],
           "nonfact_ce": metrics["base_nonfact_ce"],
           "per_template": " ".join(f"{a:.3f}" for a in per_template), "threads": args.threads,
           "seconds": round(time.perf_counter() - t0, 1)}
    print(row, flush=True)
    out = Path(args.out)
    rows = pd.read_csv(out, sep="\t").to_dict("records") if out.is_file() else []
    write_tsv(pd.DataFrame(rows + [row]), out)


if __name__ == "__main__":
    main()
