"""The editing experiment: train the base model once, then edit a fraction of its facts with each
method over a small hyperparameter grid, and score the result.

Metrics (CounterFact's efficacy / paraphrase / specificity, as ROME, MEMIT and AlphaEdit report
them; accuracy = argmax over the object tokens at the last position, the answer candidates, as
the storage criterion takes argmax over V and CounterFact compares the new object with the old
one):
efficacy (edited facts, the edit sentence = template 0), paraphrase (edited facts, their other
training templates 1..n_train-1, which the base model was trained on: the hebbian-mlps protocol,
where the base sees every template and an edit must carry over to the fact's other phrasings),
``paraphrase_unseen`` (edited facts, the held-out templates no model saw: reported, not scored;
with 8 of 12 templates the base itself recalls these at ~0.5, review 2026-11 Check 6),
specificity (preserved facts, training templates; ``specificity_paraphrase`` on the held-out ones),
``score_gm`` = geometric mean of efficacy, paraphrase and specificity (Dugan Fig 4
caption) and ``score_hm`` = their harmonic mean (the MEMIT and hebbian-mlps convention), and the
non-fact perplexity ratio exp(CE_after - CE_before) over the template-word targets of the
training templates. As in the hebbian-mlps code, the best grid point per (method, #edits) is chosen by
``score_gm`` on these same test sentences (optimistic for the baselines, which have a grid; MLP
swapping has no hyperparameter).

Edits: ``round(fraction * S)`` facts (at least 2), chosen at random; their objects are permuted
among themselves by a cyclic shift of a random order (a book may keep its author when two
edited books share one; such edits are kept and counted).
"""

from __future__ import annotations

import copy
import itertools
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import torch

from ..io import derive_seed
from ..methods import Method
from ..names import EDITORS
from .base import BaseSettings, corpus_facts, fact_mlp_seed
from .corpus import Corpus
from .editors import alphaedit_update, apply_update, clip_residuals, fit_deltas, memit_update, rome_update
from .evaluation import EvalCache
from .lm import EditLM

if TYPE_CHECKING:  # pandas appears only in annotations here (best_per_editor's DataFrames)
    import pandas as pd

__all__ = ["EditSettings", "EDITORS", "edit_plan", "grid_points", "hp_json", "SWAP_SEEDS", "run_edits",
           "best_per_editor", "BASE_COLUMNS", "editing_best", "settings_dict"]





@dataclass(frozen=True)
class EditSettings:
    """Hyperparameter grid of the baselines (every combination is run; the best is kept)."""

    steps: tuple[int, ...] = (25, 100)
    lr: tuple[float, ...] = (0.05, 0.5)
    stop_loss: tuple[float | None, ...] = (0.05, None)
    rome_weight_decay: tuple[float, ...] = (0.0015, 0.0)
    memit_lambda: tuple[float, ...] = (15000.0, 150.0, 1.0)
    clip: tuple[float | None, ...] = (None, 0.75)
    alphaedit_tol: tuple[float, ...] = (1e-6, 1e-3, 1e-2)  # relative to the largest eigenvalue of Kp Kp^T
    alphaedit_alpha: float = 1.0
    ridge: float = 1e-6
    # Scale settings (not grid axes), for corpora of thousands of facts; the defaults run the full
    # passes the snapshots were computed with. EvalCache (eval_subjects) and fit_deltas
    # (last_position) say what each computes and why.
    eval_subjects: int = 0  # > 0: accuracies at the last position, non-fact CE on this many subjects
    fit_last_position: bool = False  # fit the edit deltas through the output head alone

    @classmethod
    def from_config(cls, grid: dict) -> "EditSettings":
        """The settings of a config's ``editing.grid`` mapping (its lists become the tuples of this
        frozen dataclass)."""
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in grid.items()})


def edit_plan(corpus: Corpus, fraction: float, *, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(edited subjects, preserved subjects, new mapping); see the module docstring."""
    g = torch.Generator().manual_seed(derive_seed(seed, "editing", "plan", fraction))
    n = corpus.n_subjects
    u = max(2, round(fraction * n))
    if u >= n:
        raise ValueError(f"edit fraction {fraction} edits all {n} facts; nothing is preserved")
    perm = torch.randperm(n, generator=g)
    edited, preserved = perm[:u].sort().values, perm[u:].sort().values
    order = edited[torch.randperm(u, generator=g)]
    new = corpus.mapping.clone()
    new[order] = corpus.mapping[order.roll(1)]
    return edited, preserved, new


def grid_points(settings: EditSettings):
    """(editor, hyperparameters) for every grid point of the three baselines (also the sequential
    protocol's, :mod:`factmlp.editing.sequential`)."""
    s = settings
    fits = [dict(steps=a, lr=b, stop_loss=c) for a, b, c in itertools.product(s.steps, s.lr, s.stop_loss)]
    for f, wd in itertools.product(fits, s.rome_weight_decay):
        yield "rome", {**f, "weight_decay": wd}
    for f, lam, clip in itertools.product(fits, s.memit_lambda, s.clip):
        yield "memit", {**f, "weight_decay": 0.0, "lambda": lam, "clip": clip}
    for f, tol, clip in itertools.product(fits, s.alphaedit_tol, s.clip):
        yield "alphaedit", {**f, "weight_decay": 0.0, "tol": tol, "clip": clip}


SWAP_SEEDS = ("base", "fresh")


def run_edits(model: EditLM, corpus: Corpus, vocab: torch.Tensor, method: Method, size: int, fraction: float,
              settings: EditSettings, *, base_ce: float, seed: int, editors=EDITORS,
              swap_seed: str = "base") -> list[dict]:
    """One row per (editor, grid point) for editing ``fraction`` of the facts of the base ``model``.

    ``swap_seed``: "base" builds the swapped-in MLP with the base fact MLP's seed (:func:`fact_mlp_seed`:
    the method's random draws are part of its settings, only the facts change; the paper's "build
    a new MLP with the same method" is silent on the seed), "fresh" with a seed of its own (the
    swapped MLP then also differs at every non-fact input: non-fact perplexity ratio 1.157 vs 1.042
    at 10% edits, smoke base without decoys)."""
    if swap_seed not in SWAP_SEEDS:
        raise ValueError(f"unknown swap_seed {swap_seed!r}; known: {', '.join(SWAP_SEEDS)}")
    edited, preserved, new_mapping = edit_plan(corpus, fraction, seed=seed)
    base = {"fraction": fraction, "n_edits": int(edited.numel()), "n_preserved": int(preserved.numel()),
            "n_changed": int((new_mapping != corpus.mapping).sum())}
    rows = []
    original = model.fact_mlp
    cache = EvalCache(model, corpus, eval_subjects=settings.eval_subjects, seed=seed)
    if "mlp_swap" in editors:
        t = time.perf_counter()
        build_seed = fact_mlp_seed(seed) if swap_seed == "base" else derive_seed(seed, "editing", "swap")
        new_mlp, _ = method.build(corpus_facts(corpus, vocab, new_mapping), size, seed=build_seed)
        rows.append({**base, "editor": "mlp_swap", "hyperparameters": "{}", "seconds": time.perf_counter() - t,
                     **cache.evaluate(new_mlp, edited, preserved, new_mapping, base_ce, same_hidden=False)})
    baselines = [e for e in editors if e != "mlp_swap"]
    if not baselines:
        return rows
    edit_tokens = corpus.sentences(edited, 0, new_mapping)
    k1 = model.fact_keys(edit_tokens[:, :-1]).T  # (h, u)
    kp = model.fact_keys(corpus.sentences(preserved, 0)[:, :-1]).T  # (h, n_p)
    w0 = original.down.weight.detach().clone()
    current = w0.to(torch.float64) @ k1  # W k_i
    deltas: dict = {}
    for editor, hp in grid_points(settings):
        if editor not in baselines:
            continue
        t = time.perf_counter()
        key = (hp["steps"], hp["lr"], hp["stop_loss"], hp["weight_decay"])
        if key not in deltas:
            deltas[key] = fit_deltas(model, edit_tokens[:, :-1], edit_tokens[:, -1], steps=hp["steps"], lr=hp["lr"],
                                     weight_decay=hp["weight_decay"], stop_loss=hp["stop_loss"],
                                     last_position=settings.fit_last_position).T  # (d, u)
        r = deltas[key]
        extra = {}
        if editor == "rome":
            upd = rome_update(w0.to(torch.float64), k1, r, kp, ridge=settings.ridge)
        elif editor == "memit":
            upd = memit_update(k1, clip_residuals(r, current, hp["clip"]), kp, lam=hp["lambda"], ridge=settings.ridge)
        else:
            upd, rank = alphaedit_update(k1, clip_residuals(r, current, hp["clip"]), kp, tol=hp["tol"],
                                         alpha=settings.alphaedit_alpha)
            extra["null_space_rank"] = rank
        edited_mlp = copy.deepcopy(original)
        model.set_fact_mlp(edited_mlp)
        apply_update(model, upd)  # the down projection only: the cached hidden activations hold
        model.set_fact_mlp(original)
        rows.append({**base, "editor": editor, "hyperparameters": hp_json(hp), "seconds": time.perf_counter() - t,
                     "update_norm": float(upd.norm()), **extra,
                     **cache.evaluate(edited_mlp, edited, preserved, new_mapping, base_ce, same_hidden=True)})
    return rows


def best_per_editor(rows: "pd.DataFrame", by: str = "score_gm") -> "pd.DataFrame":
    """The best grid point per (base, seed, fraction, editor) by ``by`` (ties: the first row).

    Chosen per seed: each seed is its own base model, and the grid point a baseline needs may
    differ between them (the hebbian-mlps selection, per base model and number of edits)."""
    keys = [k for k in ("method", "seed", "fraction", "editor") if k in rows.columns]
    return rows.loc[rows.groupby(keys, sort=True)[by].idxmax()].reset_index(drop=True)


#: Base-model columns joined onto every best row (the base's recall and its fact MLP's storage).
BASE_COLUMNS = ("base_train_accuracy", "base_paraphrase_accuracy", "base_unseen_accuracy", "fact_mlp_storage")


def editing_best(rows: "pd.DataFrame", bases: "pd.DataFrame") -> "pd.DataFrame":
    """One row per (base, seed, fraction, editor): :func:`best_per_editor` with the base model's
    :data:`BASE_COLUMNS` of the same (base, seed) joined on. Raises when a (base, seed) of ``rows``
    has no base row or two, so that a missing or repeated base model cannot pass silently."""
    keys = ["method", "seed"]
    bases = bases[keys + [c for c in BASE_COLUMNS if c in bases]]
    if bases.duplicated(keys).any():
        raise ValueError(f"two base rows for (base, seed) {bases[bases.duplicated(keys)][keys].values.tolist()}")
    best = best_per_editor(rows).merge(bases, on=keys, how="left", validate="many_to_one", indicator=True)
    lost = best[best["_merge"] != "both"][keys].drop_duplicates()
    if not lost.empty:
        raise ValueError(f"no base row for (base, seed) {lost.values.tolist()}")
    return best.drop(columns="_merge")


def hp_json(hp: dict) -> str:
    """The hyperparameters of one grid point as the tables store them (sorted-key JSON)."""
    import json

    return json.dumps(hp, sort_keys=True)


def settings_dict(base: BaseSettings, edit: EditSettings) -> dict:
    return {**asdict(base), **{f"edit_{k}": v for k, v in asdict(edit).items()}}
