"""Does the MLP swap's efficacy at 10% edits grow with d, as the diagnosis of claim C8 predicts?

    python -m benchmarks editing_scale --device cuda [--out benchmarks/results/editing_scale.tsv]

docs/claims.md (C8): at the smoke setting (d = 64, 256 books) the swap misses 3 of 26 edited facts
because the other expert's author logits at the object position (a random projection onto the
author embeddings, relative size ~1/sqrt(d)) outvote a fact MLP whose normalised output margin is
small. This runs the smoke editing setting (256 books, bijection, 8 of 12 templates trained,
decoys 0.8 x 16, swap seed = base seed, the construction with buckets of d keys and one constant
neuron, hidden 240 between the preserved keys and all keys) at d = 64, 128, 256 (m' = 48, 80, 120:
the same hidden width 240), then a larger setting (``--big``: d = 256, 4,096 books, m' = 224,
hidden 3,808 between the 3,686 preserved keys at 10% and all 4,096). The base LM trains on
``--device`` (factmlp.editing.base.train_base); editing and scoring run on the CPU.
Rows: per (d, books, fraction, editor) the best grid point's scores, as the pipeline scores them,
the base's recall per template and the router's weight on the fact MLP at the object position.
``--router-token`` / ``--router-supervision`` set the two router variants of BaseSettings (the
fixes tried for C8 at d = 64; docs/claims.md).
``--schedule cosine --warmup 0.05`` trains the base with the cosine schedule of the smoke config
(session 10: at d = 128 it trains every template, recall 1.000, where the constant lr left 1-4
templates at chance; the swap then scores 1.000 at 10% and 50%).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch

from factmlp.editing.base import BaseSettings, fact_accuracy, make_base, nonfact_ce
from factmlp.editing.experiment import EditSettings, best_per_editor, run_edits
from factmlp.io import write_tsv
from factmlp.registry import get_method

SETTINGS = [(64, 256, 48), (128, 256, 80), (256, 256, 120)]
BIG = (256, 4096, 224)
COLUMNS = ["efficacy", "paraphrase", "specificity", "paraphrase_unseen", "nonfact_ppl_ratio", "score_gm", "score_hm"]


def one(d: int, books: int, size: int, args) -> list[dict]:
    t0 = time.perf_counter()
    method = get_method("construction", bucket_size=d, constant_neurons=1)
    base = BaseSettings(epochs=args.epochs, decoy_fraction=0.8, n_decoys=16, router_token=bool(args.router_token),
                        router_supervision=args.router_supervision, schedule=args.schedule, warmup=args.warmup)
    corpus, vocab, mlp, model, m = make_base(
        method, size, d=d, n_subjects=books, n_train_templates=8, n_templates=12, authors="bijection",
        objects_per_subject=0.5, settings=base, seed=0, device=args.device)
    base_ce = nonfact_ce(model, corpus)
    subjects = torch.arange(books)
    per_template = [fact_accuracy(model, corpus, subjects, [j]) for j in range(len(corpus.templates))]
    with torch.no_grad():  # the router's weight on the fact MLP at the object position, trained templates
        r_obj = torch.cat([model.router(model.mlp_input(x), x)[:, -1, 0] for x in
                           (corpus.sentences(subjects, j)[:, :-1] for j in range(corpus.n_train_templates))])
    rows = []
    for frac in args.fractions:
        rows += run_edits(model, corpus, vocab, method, size, frac, EditSettings(), base_ce=base_ce, seed=0,
                          editors=tuple(args.editors), swap_seed="base")
    best = best_per_editor(pd.DataFrame(rows))
    out = []
    for _, r in best.iterrows():
        out.append({"d": d, "books": books, "code_dim": size, "hidden": mlp.hidden, "fraction": r["fraction"],
                    "n_edits": r["n_edits"], "editor": r["editor"], **{c: r[c] for c in COLUMNS},
                    "base_recall": m["base_train_accuracy"], "router_at_object": float(r_obj.mean()),
                    "router_at_object_min": float(r_obj.min()),
                    "recall_by_template": " ".join(f"{a:.3f}" for a in per_template),
                    "router_token": args.router_token, "router_supervision": args.router_supervision,
                    "schedule": args.schedule, "warmup": args.warmup,
                    "base_train_s": m["base_seconds"],
                    "total_s": time.perf_counter() - t0, "device": args.device})
        print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in out[-1].items()}, flush=True)
    return out


def main(argv: list[str] | None = None) -> int | None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="benchmarks/results/editing_scale.tsv")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.5])
    ap.add_argument("--editors", nargs="+", default=["mlp_swap", "memit"])
    ap.add_argument("--dims", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--big", action="store_true", help="also d = 256 with 4,096 books")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--router-token", type=int, default=0, help="BaseSettings.router_token (0/1)")
    ap.add_argument("--router-supervision", type=float, default=0.0, help="BaseSettings.router_supervision")
    ap.add_argument("--schedule", default="constant", help="BaseSettings.schedule (constant or cosine)")
    ap.add_argument("--warmup", type=float, default=0.0, help="BaseSettings.warmup")
    ap.add_argument("--big-epochs", type=int, default=None, help="epochs of the --big setting (default --epochs)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for d, books, size in [s for s in SETTINGS if s[0] in args.dims] + ([BIG] if args.big else []):
        if (d, books, size) == BIG:
            args = argparse.Namespace(**{**vars(args), "epochs": args.big_epochs or args.epochs,
                                         "editors": ["mlp_swap"]})  # a baseline grid costs ~2 TFLOP per point here
        rows += one(d, books, size, args)
        write_tsv(pd.DataFrame(rows), args.out)  # after every setting: a cut-off run keeps what it measured
    print(Path(args.out).read_text())
