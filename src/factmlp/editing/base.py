"""The base model of the editing stage: a corpus of book -> author facts, token embeddings, a fact
MLP built by a method, and the small LM trained around it (one recipe, :func:`make_base`, for the
workflow's rule ``edit_base`` and the benchmarks), with the accuracies it is trained and judged by
(:func:`fact_accuracy`, :func:`nonfact_ce`) and its file format (:func:`save_base`, :func:`load_base`).
The edits and their scoring: :mod:`factmlp.editing.experiment`, :mod:`factmlp.editing.evaluation`.
"""

from __future__ import annotations

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
from ..transformer import mlp_input_scale
from .corpus import Corpus, make_corpus
from .lm import EditLM

if TYPE_CHECKING:
    from ..methods import Method

__all__ = ["BaseSettings", "SCHEDULES", "BATCHINGS", "fact_embeddings", "corpus_facts", "train_base", "make_base",
           "relabel_objects", "fact_mlp_seed", "test_templates", "fact_accuracy", "nonfact_ce", "save_base",
           "load_base"]

log = logging.getLogger("factmlp.editing")


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
    edits at 10% (d = 64, benchmarks/diagnosis/editing_scale.py, docs/claims.md C8): the router reads the
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
               "base_unseen_accuracy": fact_accuracy(model, corpus, all_s, test_templates(corpus)),
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


def test_templates(corpus: Corpus) -> list[int]:
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
