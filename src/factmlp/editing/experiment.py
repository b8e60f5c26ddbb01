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
import logging
import math
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..embeddings import make_embeddings
from ..facts import FactSet, evaluate_mlp
from ..io import derive_seed
from ..methods import Method
from ..transformer import mlp_input_scale
from .corpus import Corpus, make_corpus
from .editors import alphaedit_update, apply_update, clip_residuals, fit_deltas, memit_update, rome_update
from .lm import EditLM

if TYPE_CHECKING:  # pandas appears only in annotations here (best_per_editor's DataFrames)
    import pandas as pd

__all__ = ["BaseSettings", "EditSettings", "EDITORS", "fact_embeddings", "corpus_facts", "train_base", "make_base",
           "edit_plan",
           "fact_accuracy", "nonfact_ce", "relabel_objects", "fact_mlp_seed", "SWAP_SEEDS", "EvalCache", "run_edits",
           "scores", "save_base", "load_base", "best_per_editor", "BASE_COLUMNS", "editing_best"]

log = logging.getLogger("factmlp.editing")

EDITORS = ("mlp_swap", "rome", "memit", "alphaedit")
SCHEDULES = ("constant", "cosine")
BATCHINGS = ("template", "mixed")


@dataclass(frozen=True)
class BaseSettings:
    """Training of the base model (attention, router, other expert; the fact MLP is frozen).

    ``decoy_fraction``: share of the batches trained with a *decoy* fact MLP, built by the same
    method (same size, same build seed) on a random permutation of the objects, the batch's
    objects relabelled to match; ``n_decoys`` such permutations are drawn once. Not in the paper
    (0 = its protocol). Why (measured at the smoke setting, d = 64, 256 books, constructed fact
    MLP; docs/claims.md C8): the rest of the model co-adapts to the one map it is trained on. The
    other expert's output at the object position carries author logits of std ~2 that, alone,
    recall nothing (accuracy 0, median rank of the true author 125 of 256), yet are tuned not to
    contradict the trained map: after a swap they flip 4 of 26 edited facts (efficacy 0.846, 1.0
    with the router forced to the fact MLP), and the swapped MLP's changed outputs at template
    positions raise the non-fact perplexity by 16-27%. With decoys (0.8, 16) the model must
    read whichever map its fact MLP holds, as the paper's usability protocol asks of a swapped
    MLP: efficacy 0.962 / 0.992 at 10% / 50% edits, perplexity ratio 1.000 / 1.007. The same base
    is edited by every editor.

    The configs train without decoys (claims revision 3: C8 on the paper's protocol). Measured at
    the smoke setting (d = 128, 256 books, hidden-240 construction, mixed batches, seed 0; the
    2-core CPU box, 2026-12): without decoys the base recalls 1.000 on the trained templates; the
    swap misses 1 of 26 edits at 10% (efficacy 0.962) and none at 50% (GM 0.994, perplexity ratio
    1.031). With decoys (0.8 x 16) the same seed's base left template 1 at recall 0.004 (0.875
    overall) and at 50% the swap, MEMIT and AlphaEdit tied at GM 0.909 (one seed: the decoys cost a
    template there instead of helping the swap).

    ``router_token`` and ``router_supervision`` (off by default; not in the paper) were tried to
    mute the other expert at the object position, where its author logits cost the swap 3 of 26
    edits at 10% (d = 64, benchmarks/editing_scale.py, docs/claims.md C8): the router reads the
    current token's embedding besides z, and/or a binary cross-entropy of that weight toward 1
    where the next token is an object and 0 elsewhere is added to the loss. Measured (smoke editing
    setting, decoys 0.8 x 16): supervision alone leaves the router at 0.56 there (it reads z only,
    which at the object position is a subject embedding like any other) and base recall falls to
    0.875; reading the token (with or without supervision), the swap edits 26 of 26 at 10% and
    128 of 128 at 50%, but base recall on trained templates is 0.875 (< 0.99): with both, template
    1 ("the author of X is") fails, as do the unseen 8 and 10: at "is" right after the subject the
    model cannot tell them from template 2 ("X is a novel by"), where the next word is "a".

    ``batching`` (not in the paper, which does not say how its batches are formed): "template"
    (the default, what the snapshots up to session 11 ran) fills each batch with one template,
    "mixed" with the templates of one sentence length side by side (the LM has no padding).
    Why "mixed" (measured, d = 128, 256 books, lr 3e-3 cosine, 100 epochs, docs/claims.md C8): with
    one template per step the attention learns some templates and leaves whole others at recall 0,
    grouped by the template's last word (hidden-640 construction: templates 5-7 ending in "of",
    recall 0.623; GD: template 1 ending in "is", 0.869); mixed batches train every template
    (0.998, 0.997; hidden 240: 0.997 vs 1.000).
    """

    epochs: int = 100  # passes over the training sentences
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.1
    other_rank: int = 8
    rope_base: float = 10000.0
    decoy_fraction: float = 0.0  # share of batches trained with a decoy fact MLP (see train_base)
    n_decoys: int = 4
    router_supervision: float = 0.0  # weight of the router's BCE toward 1 at object positions, 0 elsewhere
    router_token: bool = False  # the router also reads the current token's embedding
    schedule: str = "constant"  # learning rate: "constant" (the smoke default) or "cosine" (to lr_min_factor x lr)
    warmup: float = 0.0  # share of the steps with a linear warm-up from 0 (cosine and constant alike)
    lr_min_factor: float = 0.01  # cosine's final learning rate, relative to lr
    batching: str = "template"  # "template": one template per batch; "mixed": the templates of one length mixed

    def __post_init__(self) -> None:
        if self.batching not in BATCHINGS:
            raise ValueError(f"editing.base.batching must be one of {', '.join(BATCHINGS)}, got {self.batching!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"editing.base.schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if not 0.0 <= self.warmup < 1.0:
            raise ValueError(f"editing.base.warmup must be in [0, 1), got {self.warmup!r}")
        if not 0.0 <= self.lr_min_factor <= 1.0:
            raise ValueError(f"editing.base.lr_min_factor must be in [0, 1], got {self.lr_min_factor!r}")

    def lr_at(self, step: int, total: int) -> float:
        """Learning rate of step ``step`` (0-based) of ``total``."""
        warm = int(round(self.warmup * total))
        if step < warm:
            return self.lr * (step + 1) / warm
        if self.schedule == "constant":
            return self.lr
        t = (step - warm) / max(1, total - warm - 1)
        lo = self.lr * self.lr_min_factor
        return lo + 0.5 * (self.lr - lo) * (1.0 + math.cos(math.pi * min(1.0, t)))


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


def fact_embeddings(corpus: Corpus, d: int, *, seed: int) -> torch.Tensor:
    """(vocab, d) unit rows for every token (subjects, objects, words), spherical."""
    return make_embeddings("spherical", corpus.vocab_size, d, seed=derive_seed(seed, "editing", "embeddings"))


def corpus_facts(corpus: Corpus, vocab: torch.Tensor, mapping: torch.Tensor | None = None) -> FactSet:
    """The fact set the fact MLP stores: subject rows -> object rows."""
    s, o = corpus.n_subjects, corpus.n_objects
    return FactSet(vocab[:s].clone(), vocab[s:s + o].clone(), (corpus.mapping if mapping is None else mapping).clone())


def _batches(corpus: Corpus, templates, subjects: torch.Tensor, batch: int, mapping=None):
    for j in templates:
        for start in range(0, subjects.shape[0], batch):
            yield corpus.sentences(subjects[start:start + batch], j, mapping)


def _length_groups(corpus: Corpus, templates) -> list[list[int]]:
    """``templates`` grouped by sentence length (in order of first appearance)."""
    groups: dict[int, list[int]] = {}
    for j in templates:
        before, after = corpus.template_tokens(j)
        groups.setdefault(len(before) + len(after), []).append(j)
    return list(groups.values())


def _training_batches(corpus: Corpus, templates, subjects: torch.Tensor, batch: int, batching: str):
    """One epoch's batches in ``subjects``' order (BaseSettings.batching). "template": each batch
    holds one template (the sentences of consecutive subjects); "mixed": the templates of one
    sentence length (the LM has no padding) side by side, subject-major (subject 1 with each such
    template, then subject 2, ...), cut into batches."""
    if batching == "template":
        yield from _batches(corpus, templates, subjects, batch)
        return
    n = subjects.shape[0]
    for group in _length_groups(corpus, templates):
        rows = torch.stack([corpus.sentences(subjects, j) for j in group], dim=1).reshape(n * len(group), -1)
        for start in range(0, rows.shape[0], batch):
            yield rows[start:start + batch]


def _batches_per_epoch(corpus: Corpus, templates, n_subjects: int, batch: int, batching: str) -> int:
    if batching == "template":
        return len(templates) * -(-n_subjects // batch)
    return sum(-(-len(group) * n_subjects // batch) for group in _length_groups(corpus, templates))


def _lm_loss(model: EditLM, tokens: torch.Tensor, corpus: Corpus, router_supervision: float = 0.0) -> torch.Tensor:
    """Next-token CE over every position except those whose target is the subject token; with
    ``router_supervision`` > 0 plus that weight times the router's binary cross-entropy toward 1
    where the target is an object and 0 elsewhere."""
    targets = tokens[:, 1:]
    keep = targets >= corpus.n_subjects
    if router_supervision <= 0:
        logits = model(tokens[:, :-1])
        return nn.functional.cross_entropy(logits[keep], targets[keep])
    z = model.mlp_input(tokens[:, :-1])
    r = model.router(z, tokens[:, :-1])
    logits = model.readout(model.fact_output(z), r, model.other_expert(z))
    is_object = (targets < corpus.n_subjects + corpus.n_objects).to(r.dtype)
    bce = nn.functional.binary_cross_entropy(r[..., 0][keep].clamp(1e-6, 1 - 1e-6), is_object[keep])
    return nn.functional.cross_entropy(logits[keep], targets[keep]) + router_supervision * bce


def train_base(corpus: Corpus, vocab: torch.Tensor, fact_mlp: nn.Module, settings: BaseSettings, *, seed: int,
               build=None, device: str = "cpu") -> tuple[EditLM, dict]:
    """Train the base model on every fact with the training templates; returns it and its metrics.

    ``device``: where the training steps run (the model, the fact MLP and its decoys move there and
    back to the CPU at the end, where the metrics and every later editing step run; the batches
    and all random draws come from CPU generators, so a device changes only floating-point rounding).

    ``settings.decoy_fraction`` > 0 needs ``build(facts) -> MLP`` (the fact MLP's method, size and
    build seed): that share of the batches is trained with a decoy fact MLP on a random
    permutation of the objects (:class:`BaseSettings`); the others with ``fact_mlp`` and the true map.
    """
    facts = corpus_facts(corpus, vocab)
    decoys = []
    if settings.decoy_fraction > 0:
        if build is None:
            raise ValueError("decoy_fraction > 0 needs the fact MLP's build function")
        gd = torch.Generator().manual_seed(derive_seed(seed, "editing", "decoys"))
        for _ in range(settings.n_decoys):
            m = corpus.mapping[torch.randperm(corpus.n_subjects, generator=gd)]
            decoys.append((build(corpus_facts(corpus, vocab, m)), m))
    model = EditLM(vocab, fact_mlp, mlp_scale=mlp_input_scale(facts.keys, 0.2), seed=derive_seed(seed, "editing", "lm"),
                   other_rank=settings.other_rank, rope_base=settings.rope_base, router_token=settings.router_token)
    model.to(device)
    decoys = [(mlp.to(device), m) for mlp, m in decoys]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW([{"params": [p for p in params if p.ndim >= 2], "weight_decay": settings.weight_decay},
                             {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}], lr=settings.lr,
                            fused=True)
    g = torch.Generator().manual_seed(derive_seed(seed, "editing", "batches"))
    train_t = list(range(corpus.n_train_templates))
    t0 = time.perf_counter()
    steps = 0
    total = settings.epochs * _batches_per_epoch(corpus, train_t, corpus.n_subjects, settings.batch_size,
                                                 settings.batching)
    for epoch in range(settings.epochs):
        order = torch.randperm(corpus.n_subjects, generator=g)
        batches = list(_training_batches(corpus, train_t, order, settings.batch_size, settings.batching))
        for i in torch.randperm(len(batches), generator=g).tolist():
            if settings.schedule != "constant" or settings.warmup > 0:
                for group in opt.param_groups:
                    group["lr"] = settings.lr_at(steps, total)
            tokens = batches[i]
            if decoys and float(torch.rand((), generator=g)) < settings.decoy_fraction:
                mlp, m = decoys[int(torch.randint(len(decoys), (), generator=g))]
                tokens = relabel_objects(tokens, corpus, m)
                model.set_fact_mlp(mlp)
            else:
                model.set_fact_mlp(fact_mlp)
            loss = _lm_loss(model, tokens.to(device), corpus, settings.router_supervision)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
    model.set_fact_mlp(fact_mlp)
    model.to("cpu")
    all_s = torch.arange(corpus.n_subjects)
    metrics = {"base_steps": steps, "base_seconds": time.perf_counter() - t0,
               "base_train_accuracy": fact_accuracy(model, corpus, all_s, train_t),
               "base_paraphrase_accuracy": fact_accuracy(model, corpus, all_s, train_t[1:] or [0]),
               "base_unseen_accuracy": fact_accuracy(model, corpus, all_s, _test_templates(corpus)),
               "base_nonfact_ce": nonfact_ce(model, corpus),
               "fact_mlp_storage": evaluate_mlp(fact_mlp, facts)["accuracy"]}
    log.info("base model: %d steps in %.1fs, fact accuracy train %.3f / paraphrase %.3f, fact MLP storage %.3f",
             steps, metrics["base_seconds"], metrics["base_train_accuracy"], metrics["base_paraphrase_accuracy"],
             metrics["fact_mlp_storage"])
    return model, metrics


def make_base(method: Method, size: int, *, d: int, n_subjects: int, n_train_templates: int, n_templates: int,
              authors: str, objects_per_subject: float, settings: BaseSettings,
              seed: int, device: str = "cpu") -> tuple[Corpus, torch.Tensor, nn.Module, EditLM, dict]:
    """One base model of the editing stage (rule ``edit_base``): (corpus, vocab, fact MLP, model,
    metrics). Every random draw comes from ``seed``: the corpus (names and book -> author map,
    :func:`~factmlp.editing.corpus.make_corpus`), the token embeddings (:func:`fact_embeddings`),
    the fact MLP's build and its decoys' (:func:`fact_mlp_seed`), the LM's initialisation and its
    batches (:func:`train_base`); :func:`run_edits` draws the edited facts from the same seed. So
    each seed of ``editing.seeds`` is an independent base model, and a seed rebuilds its own bitwise
    (on one device and thread count). The one recipe of a base: the workflow and the benchmarks
    build theirs with it (``device``: where the LM trains, :func:`train_base`)."""
    corpus = make_corpus(n_subjects, objects_per_subject=objects_per_subject, authors=authors,
                         n_train_templates=n_train_templates, n_templates=n_templates, seed=seed)
    vocab = fact_embeddings(corpus, d, seed=seed)

    def build(facts: FactSet) -> nn.Module:
        return method.build(facts, size, seed=fact_mlp_seed(seed))[0]

    mlp = build(corpus_facts(corpus, vocab))
    model, metrics = train_base(corpus, vocab, mlp, settings, seed=seed, build=build, device=device)
    return corpus, vocab, mlp, model, metrics


def relabel_objects(tokens: torch.Tensor, corpus: Corpus, mapping: torch.Tensor) -> torch.Tensor:
    """Sentences ``tokens`` (one subject each, the object last) with the objects of ``mapping``."""
    subjects = torch.where(tokens < corpus.n_subjects, tokens, 0).sum(1)
    if not bool(((tokens < corpus.n_subjects).sum(1) == 1).all()):
        raise ValueError("every sentence must hold exactly one subject token")
    out = tokens.clone()
    out[:, -1] = corpus.object_token(mapping[subjects])
    return out


def fact_mlp_seed(seed: int) -> int:
    """Build seed of the base model's fact MLP, of its decoys and (``swap_seed: base``) of the
    MLP swapped in: the same method with the same random draws, only the facts differ."""
    return derive_seed(seed, "editing", "mlp")


def _test_templates(corpus: Corpus) -> list[int]:
    return list(range(corpus.n_train_templates, len(corpus.templates)))


@torch.no_grad()
def fact_accuracy(model: EditLM, corpus: Corpus, subjects: torch.Tensor, templates, mapping=None) -> float:
    """Fraction of (subject, template) sentences whose argmax over the object tokens at the last
    position is the right object (the answer candidates; a fact MLP stores argmax over V)."""
    if subjects.numel() == 0:
        return float("nan")
    correct = total = 0
    s, o = corpus.n_subjects, corpus.n_objects
    for tokens in _batches(corpus, templates, subjects, 1024, mapping):
        pred = model(tokens[:, :-1])[:, -1, s:s + o].argmax(-1) + s
        correct += int((pred == tokens[:, -1]).sum())
        total += tokens.shape[0]
    return correct / total


@torch.no_grad()
def nonfact_ce(model: EditLM, corpus: Corpus, subjects: torch.Tensor | None = None) -> float:
    """Mean CE of template-word targets (not the subject, not the object) over the training templates
    (held-out templates are new word sequences, unpredictable by construction); of every subject
    unless ``subjects`` are given."""
    total, count = 0.0, 0
    subjects = torch.arange(corpus.n_subjects) if subjects is None else subjects
    for tokens in _batches(corpus, range(corpus.n_train_templates), subjects, 1024):
        logits = model(tokens[:, :-1])[:, :-1]  # drop the object position
        targets = tokens[:, 1:-1]
        keep = targets >= corpus.n_subjects
        total += float(nn.functional.cross_entropy(logits[keep], targets[keep], reduction="sum"))
        count += int(keep.sum())
    return total / count


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
        train_t, test_t = list(range(c.n_train_templates)), _test_templates(c)
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


def _grid(settings: EditSettings):
    """(editor, hyperparameters) for every grid point of the three baselines."""
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
    for editor, hp in _grid(settings):
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
        rows.append({**base, "editor": editor, "hyperparameters": _hp_json(hp), "seconds": time.perf_counter() - t,
                     "update_norm": float(upd.norm()), **extra,
                     **cache.evaluate(edited_mlp, edited, preserved, new_mapping, base_ce, same_hidden=True)})
    return rows


def save_base(path, corpus: Corpus, vocab: torch.Tensor, model: EditLM, settings: BaseSettings, metrics: dict) -> None:
    """Everything needed to edit the base model later: corpus, embeddings, weights, settings."""
    from ..io import save_tensors

    m = model.fact_mlp
    save_tensors({"corpus": {"subjects": corpus.subjects, "objects": corpus.objects, "words": corpus.words,
                             "mapping": corpus.mapping, "templates": list(corpus.templates),
                             "n_train_templates": corpus.n_train_templates},
                  "vocab": vocab, "state": model.state_dict(), "mlp_scale": model.mlp_scale,
                  "fact_mlp": {"hidden": m.hidden, "activation": m.activation},
                  "settings": asdict(settings), "metrics": dict(metrics)}, path)


def load_base(path) -> tuple[Corpus, torch.Tensor, EditLM, dict]:
    """(corpus, vocab, model, metrics) saved by :func:`save_base`."""
    from ..io import load_tensors
    from ..mlp import GatedMLP

    obj = load_tensors(path)
    c = obj["corpus"]
    corpus = Corpus(list(c["subjects"]), list(c["objects"]), list(c["words"]), c["mapping"], tuple(c["templates"]),
                    int(c["n_train_templates"]))
    vocab = obj["vocab"]
    st = obj["settings"]
    fact = GatedMLP(vocab.shape[1], int(obj["fact_mlp"]["hidden"]), activation=obj["fact_mlp"]["activation"])
    model = EditLM(vocab, fact, mlp_scale=float(obj["mlp_scale"]), seed=0, other_rank=int(st["other_rank"]),
                   rope_base=float(st["rope_base"]), router_token=bool(st.get("router_token", False)))
    model.load_state_dict(obj["state"])
    model.fact_mlp.requires_grad_(False)
    return corpus, vocab, model, dict(obj["metrics"])


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


def _hp_json(hp: dict) -> str:
    import json

    return json.dumps(hp, sort_keys=True)


def settings_dict(base: BaseSettings, edit: EditSettings) -> dict:
    return {**asdict(base), **{f"edit_{k}": v for k, v in asdict(edit).items()}}
