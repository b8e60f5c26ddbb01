"""Sequential editing: edits arrive in rounds of a fixed batch, and each editor keeps what it did.

AlphaEdit's headline and the later editing literature apply thousands of edits in batches one
after another; Dugan et al.'s case for MLP swapping is that it does not degrade as edits
accumulate. Protocol (issue 32):

- Plan: ``batch * rounds`` facts are edited in all, chosen and given new objects exactly as the
  one-batch protocol does at that fraction (:func:`factmlp.editing.experiment.edit_plan`: the same
  facts, the same new objects); a random order (its own seed) splits them into ``rounds`` batches.
  With one round this *is* the one-batch protocol (a test checks every number).
- After each round, with the map f_r (the first r batches edited): efficacy and paraphrase on every
  fact edited so far, specificity on every fact not edited so far, the non-fact perplexity ratio,
  and the GM/HM scores (:class:`~factmlp.editing.evaluation.EvalCache`, as the one-batch protocol).
- MLP swap: the fact MLP is **rebuilt** from f_r by the base's method at the base's size and build
  seed each round (no method here has an incremental update; the cost per round is one build).
- ROME, MEMIT, AlphaEdit: updates **accumulate** on the fact MLP's down projection. Each round's
  residuals are fitted on the model as edited so far; ROME adds one rank-one update per edit of
  the round, MEMIT one batch update; the preserved-key statistics (C for ROME and MEMIT, AlphaEdit's
  null-space projector P, computed once as its code does) come from the facts that no round edits
  -- the editor is told in advance which facts will stay, as in the one-batch protocol. That
  helps the baselines except where the preserved facts are about as many as the fact MLP's hidden
  units: medium's 4,096-book base keeps 2,046 keys in h = 2,048, C is then singular up to its
  ridge (``editing.grid.ridge``, 1e-6), and ROME's summed rank-one updates interfere from round 1
  (``python -m benchmarks sequential_ridge`` measures it against larger ridges; docs/claims.md E1).
  AlphaEdit adds each round's K1 K1^T to Cp, the earlier edits' key statistics (its sequential
  algorithm; :func:`~factmlp.editing.editors.alphaedit_update`), so that later updates stay off
  the earlier edits; ROME and MEMIT have no such term, as in their code.
- Grid: every point of the editors' grid runs its own sequence; the best point per editor is
  chosen afterwards by its score after the last round (:func:`best_sequences`), as the one-batch
  protocol chooses by its score (optimistic for the baselines).

Each row also carries the round's wall seconds (fit + update, or the build) and the peak resident
set of the round (:class:`factmlp.jobstats.PeakWindow`), so that the cost of editing by rebuild and
by rank-one updates can be compared per round.
"""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING

import torch

from ..io import derive_seed
from ..jobstats import PeakWindow
from ..methods import Method
from ..names import EDITORS
from .base import corpus_facts, fact_mlp_seed
from .corpus import Corpus
from .editors import (
    alphaedit_projector,
    alphaedit_update,
    apply_update,
    clip_residuals,
    fit_deltas,
    memit_update,
    rome_update,
)
from .evaluation import EvalCache
from .experiment import SWAP_SEEDS, EditSettings, edit_plan, grid_points, hp_json
from .lm import EditLM

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["sequential_plan", "run_sequential", "best_sequences"]


def sequential_plan(corpus: Corpus, batch: int, rounds: int, *, seed: int
                    ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """(the edited subjects of each round, the subjects no round edits, the final map); see the
    module docstring. Raises when the rounds would edit every fact or fewer than two."""
    n = corpus.n_subjects
    if batch < 1 or rounds < 1:
        raise ValueError(f"batch and rounds must be >= 1, got {batch} and {rounds}")
    total = batch * rounds
    if total < 2 or total >= n:
        raise ValueError(f"{rounds} rounds of {batch} edits = {total} of {n} facts: need 2 <= edits < {n}")
    edited, preserved, new = edit_plan(corpus, total / n, seed=seed)
    if edited.numel() != total:  # edit_plan rounds fraction * n; total / n * n is total for any int
        raise RuntimeError(f"edit plan gave {edited.numel()} edits for {total}")
    g = torch.Generator().manual_seed(derive_seed(seed, "editing", "sequential", batch, rounds))
    order = edited[torch.randperm(total, generator=g)]
    return [order[r * batch:(r + 1) * batch].sort().values for r in range(rounds)], preserved, new


def _after(corpus: Corpus, new: torch.Tensor, done: torch.Tensor) -> torch.Tensor:
    """The map with the subjects ``done`` edited."""
    m = corpus.mapping.clone()
    m[done] = new[done]
    return m


def run_sequential(model: EditLM, corpus: Corpus, vocab: torch.Tensor, method: Method, size: int,
                   settings: EditSettings, *, batch: int, rounds: int, base_ce: float, seed: int,
                   editors=EDITORS, swap_seed: str = "base") -> list[dict]:
    """One row per (editor, grid point, round); the model is left as it was."""
    if swap_seed not in SWAP_SEEDS:
        raise ValueError(f"unknown swap_seed {swap_seed!r}; known: {', '.join(SWAP_SEEDS)}")
    plan, preserved, new = sequential_plan(corpus, batch, rounds, seed=seed)
    cache = EvalCache(model, corpus, eval_subjects=settings.eval_subjects, seed=seed)
    original = model.fact_mlp
    window = PeakWindow()
    all_subjects = torch.arange(corpus.n_subjects)

    def evaluate(mlp, r: int, same_hidden: bool) -> dict:
        done = torch.cat(plan[:r + 1]).sort().values
        rest = all_subjects[~torch.isin(all_subjects, done)]
        out = cache.evaluate(mlp, done, rest, _after(corpus, new, done), base_ce, same_hidden=same_hidden)
        return {"round": r + 1, "n_edited": int(done.numel()), "n_unedited": int(rest.numel()), **out}

    common = {"batch": batch, "rounds": rounds, "n_preserved": int(preserved.numel())}
    rows = []
    if "mlp_swap" in editors:
        build_seed = fact_mlp_seed(seed) if swap_seed == "base" else derive_seed(seed, "editing", "swap")
        for r in range(rounds):
            window.start()
            t = time.perf_counter()
            done = torch.cat(plan[:r + 1])
            mlp, _ = method.build(corpus_facts(corpus, vocab, _after(corpus, new, done)), size, seed=build_seed)
            seconds = time.perf_counter() - t
            rows.append({**common, "editor": "mlp_swap", "hyperparameters": "{}", "seconds": seconds,
                         "peak_rss_mib": window.peak(), **evaluate(mlp, r, same_hidden=False)})
    baselines = [e for e in editors if e != "mlp_swap"]
    if not baselines:
        return rows
    kp = model.fact_keys(corpus.sentences(preserved, 0)[:, :-1]).T  # (h, n_p): the facts no round edits
    projectors: dict = {}
    try:
        for editor, hp in grid_points(settings):
            if editor not in baselines:
                continue
            mlp = copy.deepcopy(original)
            model.set_fact_mlp(mlp)
            cp = torch.zeros(kp.shape[0], kp.shape[0], dtype=torch.float64) if editor == "alphaedit" else None
            if editor == "alphaedit" and hp["tol"] not in projectors:
                projectors[hp["tol"]] = alphaedit_projector(kp, tol=hp["tol"])
            for r in range(rounds):
                window.start()
                t = time.perf_counter()
                mapping = _after(corpus, new, torch.cat(plan[:r + 1]))
                tokens = corpus.sentences(plan[r], 0, mapping)
                k1 = model.fact_keys(tokens[:, :-1]).T  # (h, b): only the down projection moves, so the keys hold
                res = fit_deltas(model, tokens[:, :-1], tokens[:, -1], steps=hp["steps"], lr=hp["lr"],
                                 weight_decay=hp["weight_decay"], stop_loss=hp["stop_loss"],
                                 last_position=settings.fit_last_position).T  # (d, b), on the model as edited
                w = mlp.down.weight.detach().to(torch.float64)
                extra = {}
                if editor == "rome":
                    upd = rome_update(w, k1, res, kp, ridge=settings.ridge)
                elif editor == "memit":
                    upd = memit_update(k1, clip_residuals(res, w @ k1, hp["clip"]), kp, lam=hp["lambda"],
                                       ridge=settings.ridge)
                else:
                    upd, rank = alphaedit_update(k1, clip_residuals(res, w @ k1, hp["clip"]), None, tol=hp["tol"],
                                                 alpha=settings.alphaedit_alpha, projector=projectors[hp["tol"]],
                                                 cp=cp)
                    cp += k1 @ k1.T
                    extra["null_space_rank"] = rank
                apply_update(model, upd)
                seconds = time.perf_counter() - t
                rows.append({**common, "editor": editor, "hyperparameters": hp_json(hp), "seconds": seconds,
                             "peak_rss_mib": window.peak(), "update_norm": float(upd.norm()), **extra,
                             **evaluate(mlp, r, same_hidden=True)})
    finally:
        model.set_fact_mlp(original)
    return rows


def best_sequences(rows: "pd.DataFrame", by: str = "score_gm") -> "pd.DataFrame":
    """Every round of the best grid point per (base, seed, editor), the best being the one with the
    highest ``by`` after its last round (ties: the first)."""
    keys = [k for k in ("method", "seed", "editor") if k in rows.columns]
    last = rows[rows["round"] == rows["rounds"]]
    best = last.loc[last.groupby(keys, sort=True)[by].idxmax(), keys + ["hyperparameters"]]
    return rows.merge(best, on=keys + ["hyperparameters"]).sort_values(keys + ["round"]).reset_index(drop=True)
