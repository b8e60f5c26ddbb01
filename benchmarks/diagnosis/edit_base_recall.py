"""Does a base LM of the editing stage learn every template? Train one base, print its recall per template.

    python -m benchmarks edit_base_recall --books 256 --d 128 --method construction \
        --size 128 --base '{"lr": 0.001, "epochs": 200}' [--method-settings '{"bucket_size": 128}']

The editing stage's protocol (factmlp.editing.base.train_base: bijection authors, 8 of 12
templates trained, the fact MLP frozen), with the smoke/medium base settings as defaults (cosine lr
3e-3 with 5% warm-up, decoys 0.8 x 16, 100 epochs; one template per batch, as up to session 11:
``--mix-templates`` for the configs' ``batching: mixed``) and ``--base`` (JSON) over them. Prints and
appends to ``--out`` one row: the settings, base recall on the trained templates and per template
(12 values: 0-7 trained, 8-11 held out), per trained template the cosine of the MLP input with
the subject's key and the relative distance of the fact MLP's hidden keys from template 0's
(:func:`key_geometry`: where they differ an editor fitted on template 0 must generalise), the
seconds. docs/claims.md (C8) quotes these runs:
at d = 128, lr 3e-3 leaves whole templates at recall 0 for some fact MLPs (hidden-640 construction:
templates 5-7), lr 1e-3 for 200 epochs trains them; the 4,096-book base
(``--books 4096 --size 64 --method-settings '{"bucket_size": 128, "constant_neurons": 1}'
--base '{"epochs": 8}'``) does not train; with ``--method hebbian_whitened --size 2048
--mix-templates`` it does (medium's ``hebbian_4096``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
import torch

from factmlp.editing.base import BaseSettings, corpus_facts, fact_accuracy, make_base
from factmlp.io import write_tsv
from factmlp.registry import get_method

BASE_DEFAULTS = dict(epochs=100, batch_size=64, lr=3e-3, schedule="cosine", warmup=0.05, decoy_fraction=0.8,
                     n_decoys=16)


@torch.no_grad()
def key_geometry(model, corpus, keys: torch.Tensor, templates) -> tuple[list[float], list[float]]:
    """Per template j, over every book: mean cosine of the MLP input at the last position with the
    subject's key, and mean relative distance ||h_j - h_0|| / ||h_0|| of the fact MLP's hidden
    activations (the editors' keys) from those of template 0 (the edit sentence)."""
    subjects = torch.arange(corpus.n_subjects)
    cos, dist, h0 = [], [], None
    for j in templates:
        tokens = corpus.sentences(subjects, j)[:, :-1]
        z = model.mlp_input(tokens)[:, -1].to(torch.float64)
        h = model.fact_keys(tokens)
        h0 = h if h0 is None else h0
        cos.append(float(torch.nn.functional.cosine_similarity(z, keys.to(torch.float64), dim=1).mean()))
        dist.append(float(((h - h0).norm(dim=1) / h0.norm(dim=1)).mean()))
    return cos, dist


def main(argv: list[str] | None = None) -> int | None:
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
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    method_settings, base = json.loads(args.method_settings), {**BASE_DEFAULTS, **json.loads(args.base)}
    if args.mix_templates:
        base["batching"] = "mixed"
    method = get_method(args.method, **method_settings)
    t0 = time.perf_counter()
    corpus, vocab, _, model, metrics = make_base(
        method, args.size, d=args.d, n_subjects=args.books, n_train_templates=8, n_templates=12, authors="bijection",
        objects_per_subject=0.5, settings=BaseSettings(**base), seed=args.seed)
    subjects = torch.arange(corpus.n_subjects)
    per_template = [fact_accuracy(model, corpus, subjects, [j]) for j in range(len(corpus.templates))]
    cos, dist = key_geometry(model, corpus, corpus_facts(corpus, vocab).keys, range(corpus.n_train_templates))
    row = {"books": args.books, "d": args.d, "method": args.method, "size": args.size,
           "method_settings": json.dumps(method_settings, sort_keys=True), "base": json.dumps(base, sort_keys=True),
           "mix_templates": base.get("batching") == "mixed", "recall": metrics["base_train_accuracy"],
           "nonfact_ce": metrics["base_nonfact_ce"],
           "per_template": " ".join(f"{a:.3f}" for a in per_template),
           "cos_input_key": " ".join(f"{c:.3f}" for c in cos), "hidden_dist_t0": " ".join(f"{c:.3f}" for c in dist),
           "threads": args.threads,
           "seconds": round(time.perf_counter() - t0, 1)}
    print(row, flush=True)
    out = Path(args.out)
    rows = pd.read_csv(out, sep="\t").to_dict("records") if out.is_file() else []
    write_tsv(pd.DataFrame(rows + [row]), out)
