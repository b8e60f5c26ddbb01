"""Scoring an edit: efficacy, paraphrase, specificity, the non-fact perplexity ratio and their
geometric and harmonic means, computed once per base model's fixed parts (:class:`EvalCache`).
The metrics' definitions: :mod:`factmlp.editing.experiment`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..io import derive_seed
from .base import test_templates
from .corpus import Corpus
from .lm import EditLM

__all__ = ["scores", "EvalCache"]


def scores(efficacy: float, paraphrase: float, specificity: float) -> dict:
    """Geometric and harmonic means of the three accuracies (0 if any is 0)."""
    vals = [efficacy, paraphrase, specificity]
    if min(vals) <= 0:
        return {"score_gm": 0.0, "score_hm": 0.0}
    return {"score_gm": math.prod(vals) ** (1 / 3), "score_hm": 3 / sum(1 / v for v in vals)}


class EvalCache:
    """Everything of the edit evaluation that no editor changes, computed once per base model.

    Editors change the fact MLP only (ROME, MEMIT and AlphaEdit its down projection; the swap the
    whole MLP), so for every sentence of every template the MLP input z, the router's weight r and
    the other expert's normalised output are fixed, and so are the fact MLP's hidden activations
    while only its down projection moves (kept when they fit in ``max_hidden_bytes``, else
    recomputed from z). :meth:`evaluate` then costs one fact-MLP readout and one output head per
    sentence position instead of a full forward pass per metric: the ~113 grid points of an edit
    job were ~100 s of its ~150 s at d = 64 (smoke). The sentences' inputs do not depend on the
    map f (the object is the last token, a target only), so one cache serves every edit plan.

    ``eval_subjects`` > 0 (EditSettings.eval_subjects; for corpora of thousands of facts): the
    accuracies still cover every subject and template but read the last position only, and the
    non-fact perplexity ratio is measured on ``eval_subjects`` subjects drawn once from ``seed``,
    against the base model's CE on the same subjects. Why: at 4,096 books and d = 128 one full
    evaluation is ~1.5 TFLOP (the output head over ~8,300 tokens at every position), ~100x one at
    the last position; the perplexity ratio is a mean over template words, which 512 subjects x
    the training templates (~30,000 targets) estimate to well under 1%. 0 (default): every
    subject and position, as the snapshots were computed.
    """

    def __init__(self, model: EditLM, corpus: Corpus, *, max_hidden_bytes: float = 2e9, eval_subjects: int = 0,
                 seed: int = 0) -> None:
        if eval_subjects < 0:
            raise ValueError(f"eval_subjects must be >= 0, got {eval_subjects}")
        self.model, self.corpus = model, corpus
        self.base_mlp = model.fact_mlp
        self.last_only = eval_subjects > 0
        subjects = torch.arange(corpus.n_subjects)
        if self.last_only:  # non-fact CE on a fixed subset, sorted (the order of a sum of CEs)
            g = torch.Generator().manual_seed(derive_seed(seed, "editing", "eval_subjects"))
            ce_subjects = torch.randperm(corpus.n_subjects, generator=g)[:eval_subjects].sort().values
        else:
            ce_subjects = subjects
        has_hidden = all(hasattr(self.base_mlp, a) for a in ("up", "gate", "down", "hidden"))
        n_hidden = sum(corpus.sentences(subjects[:1], j).shape[1] - 1 for j in range(len(corpus.templates)))
        keep_hidden = has_hidden and len(ce_subjects) * n_hidden * self.base_mlp.hidden * 8 <= max_hidden_bytes
        n_last = corpus.n_subjects * len(corpus.templates)
        keep_last = has_hidden and n_last * self.base_mlp.hidden * 8 <= max_hidden_bytes
        self.inputs, self.z, self.r, self.other, self.hidden, self.last = [], [], [], [], [], []
        with torch.no_grad():
            for j in range(len(corpus.templates)):
                inp = corpus.sentences(subjects, j)[:, :-1]
                z = model.mlp_input(inp)
                r, other = model.router(z, inp), model.other_expert(z)
                if self.last_only:  # (z, hidden, r, other) at the last position, every subject
                    zl = z[:, -1]
                    self.last.append((zl, self._hidden(zl) if keep_last else None, r[:, -1], other[:, -1]))
                    if j >= corpus.n_train_templates:  # no non-fact CE on held-out templates
                        for lst in (self.inputs, self.z, self.r, self.other, self.hidden):
                            lst.append(None)
                        continue
                    inp, z, r, other = inp[ce_subjects], z[ce_subjects], r[ce_subjects], other[ce_subjects]
                self.inputs.append(inp)
                self.z.append(z)
                self.r.append(r)
                self.other.append(other)
                self.hidden.append(self._hidden(z) if keep_hidden else None)
        self.ce_subjects = ce_subjects
        self.base_ce = self._nonfact_ce(self.base_mlp, same_hidden=True) if self.last_only else None

    def _hidden(self, z: torch.Tensor) -> torch.Tensor:
        return self.base_mlp.hidden_activations(z.to(self.base_mlp.down.weight.dtype))

    def _readout(self, mlp: nn.Module, z, hidden, r, other, *, same_hidden: bool) -> torch.Tensor:
        if same_hidden and hidden is not None:
            fact = mlp.down(hidden).to(z.dtype)
        else:
            fact = mlp(z.to(next(iter(mlp.parameters()), z).dtype)).to(z.dtype)
        return self.model.readout(fact, r, other)

    @torch.no_grad()
    def logits(self, mlp: nn.Module, j: int, *, same_hidden: bool) -> torch.Tensor:
        """(S, T, vocab) logits of template ``j`` for the cached subjects (every subject unless
        ``eval_subjects``) with ``mlp`` as the fact MLP; ``same_hidden``: ``mlp`` differs from the
        base fact MLP in its down projection only."""
        return self._readout(mlp, self.z[j], self.hidden[j], self.r[j], self.other[j], same_hidden=same_hidden)

    def _ce_terms(self, lg: torch.Tensor, j: int) -> tuple[float, int]:
        """Summed CE and count of the template-word targets of template ``j`` (object position dropped)."""
        tgt = self.inputs[j][:, 1:]
        keep = tgt >= self.corpus.n_subjects
        return float(nn.functional.cross_entropy(lg[:, :-1][keep], tgt[keep], reduction="sum")), int(keep.sum())

    @torch.no_grad()
    def _nonfact_ce(self, mlp: nn.Module, *, same_hidden: bool) -> float:
        total = count = 0
        for j in range(self.corpus.n_train_templates):
            t, c = self._ce_terms(self.logits(mlp, j, same_hidden=same_hidden), j)
            total, count = total + t, count + c
        return total / count

    @torch.no_grad()
    def evaluate(self, mlp: nn.Module, edited, preserved, new_mapping, base_ce: float, *, same_hidden: bool) -> dict:
        """Efficacy (edited facts, template 0), paraphrase (their other training templates),
        specificity (preserved facts, training templates), ``paraphrase_unseen`` and
        ``specificity_paraphrase`` (the held-out templates), the non-fact perplexity ratio against
        ``base_ce`` (with ``eval_subjects``: against the base's CE on the same subjects, computed
        here) and the GM/HM scores (module docstring), with ``mlp`` as the fact MLP."""
        c = self.corpus
        s, o = c.n_subjects, c.n_objects
        train_t, test_t = list(range(c.n_train_templates)), test_templates(c)
        targets = new_mapping + s  # the object token of each subject under the edited map
        right = []  # (templates, subjects) bool: the argmax over the objects is the (new) object
        ce_sum, ce_count = 0.0, 0
        for j in range(len(c.templates)):
            if self.last_only:
                last = self._readout(mlp, *self.last[j], same_hidden=same_hidden)
                lg = self.logits(mlp, j, same_hidden=same_hidden) if j < c.n_train_templates else None
            else:
                lg = self.logits(mlp, j, same_hidden=same_hidden)
                last = lg[:, -1]
            right.append(last[:, s:s + o].argmax(-1) + s == targets)
            if j < c.n_train_templates:  # non-fact CE: template-word targets, the object position dropped
                t, n = self._ce_terms(lg, j)
                ce_sum, ce_count = ce_sum + t, ce_count + n
        right = torch.stack(right)

        def acc(subjects, templates) -> float:
            if subjects.numel() == 0:
                return float("nan")
            return float(right[templates][:, subjects].to(torch.float64).mean())

        e = acc(edited, [0])
        p = acc(edited, train_t[1:] or [0])
        sp = acc(preserved, train_t)
        ref_ce = self.base_ce if self.last_only else base_ce
        out = {"efficacy": e, "paraphrase": p, "specificity": sp,
               "paraphrase_unseen": acc(edited, test_t), "specificity_paraphrase": acc(preserved, test_t),
               "nonfact_ppl_ratio": math.exp(ce_sum / ce_count - ref_ce)}
        return {**out, **scores(e, p, sp)}
