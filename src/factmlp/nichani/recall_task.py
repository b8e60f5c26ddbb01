r"""The synthetic factual-recall task and a one-layer Transformer (Nichani, Lee, Bietti 2024, Sec. 4, Fig. 4).

Task (:class:`FactTask`). Subjects s in S, relations r in R; relation r owns the answer block
A_r = {rD, ..., rD + D - 1} and the fact table a*(s, r) is drawn once, uniformly from A_r
(``structured``: a*(s, r) = rD + floor(sD/|S|), the table of the paper's Fig. 5). A sequence has
T tokens: the subject and the relation at two distinct uniform positions among the first T - 1,
i.i.d. uniform noise tokens elsewhere, and EOS last; the target at EOS is a*(s, r). Vocabulary:
subjects 0..S-1, relations S..S+R-1, noise S+R..S+R+n_noise-1, EOS = S+R+n_noise (the paper's
ids). Training is online: a fresh batch every step.

Model (:class:`RecallTransformer`, the paper's ``TF_one_layer``): frozen token embeddings and
frozen answer unembeddings ~ N(0, 1/d); H attention heads of size d_h in which only the EOS
position queries (softmax over all T positions, scores / sqrt(d_h)); heads concatenated and
mapped by O, with *no* residual around attention; an MLP x + W_2^T relu(W_1 x + b_1) of width m
with a residual; logits against the unembeddings of the D R answers. Q, K, V ~ N(0, 1/d_h),
O ~ N(0, 1/d) as in the paper's code; W_1, W_2 ~ N(0, 1/d) and N(0, 1/m) (LeCun), b_1 = 0.
``mlp_width = 0`` leaves out the MLP (attention only). Parameters counted as in the paper's
plots: 4 H d_h d + 2 m d (no biases, no frozen embeddings).

Choices the paper leaves open or that we change (settings unless marked fixed):

- Evaluation covers *every* fact: each (s, r) pair ``eval_repeats`` times in fresh noise
  contexts (the paper's 1024 random test sequences sample only part of the facts once
  |S||R| > 1024). A model *stores* the task when this accuracy reaches ``stored_at`` (0.99 in the
  paper, at its best checkpoint; we also keep the best evaluation).
- AdamW without weight decay and without schedule, as in the paper; the paper retries each
  probe with lr in (1e-3, 3e-3, 1e-2) until one succeeds: ``lrs`` lists the rates tried in order.
- The capacity search (largest |S| = |R| = size that is stored, #facts = size^2, the paper's
  "linear" task scaling with D fixed) is :func:`factmlp.nichani.associative.largest_stored`; every probe
  draws its own fact table and initialisation from ``derive_seed(seed, ..., size)``.
- The noise vocabulary is n_noise = |S| + |R| unless set (the paper's sweeps).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..io import derive_seed
from ..training import resolve_device
from .associative import largest_stored

__all__ = ["FactTask", "RecallModelSpec", "RecallTrainSettings", "RecallTransformer", "answer_table",
           "sample_sequences", "every_fact_sequences", "train_recall", "recall_capacity", "tradeoff_cell"]

log = logging.getLogger("factmlp.nichani.recall_task")


@dataclass(frozen=True)
class FactTask:
    n_subjects: int
    n_relations: int
    answers_per_relation: int = 8  # D
    length: int = 32  # T, including EOS
    n_noise: int = 0  # 0 means n_subjects + n_relations
    structured: bool = False  # a*(s, r) = rD + floor(sD/|S|) (Fig. 5) instead of uniform in A_r

    def __post_init__(self) -> None:
        if min(self.n_subjects, self.n_relations, self.answers_per_relation) < 1:
            raise ValueError(f"need at least one subject, relation and answer per relation, got {self}")
        if self.length < 3:
            raise ValueError(f"length must be >= 3 (subject, relation, EOS), got {self.length}")
        if self.n_noise < 0:
            raise ValueError(f"n_noise must be >= 0, got {self.n_noise}")
        if self.noise_tokens == 0 and self.length > 3:
            raise ValueError("a sequence longer than 3 needs noise tokens")

    @property
    def noise_tokens(self) -> int:
        return self.n_noise or self.n_subjects + self.n_relations

    @property
    def vocab_size(self) -> int:
        return self.n_subjects + self.n_relations + self.noise_tokens + 1

    @property
    def eos(self) -> int:
        return self.vocab_size - 1

    @property
    def n_answers(self) -> int:
        return self.answers_per_relation * self.n_relations

    @property
    def n_facts(self) -> int:
        return self.n_subjects * self.n_relations


def _generator(seed: int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(int(seed))


def answer_table(task: FactTask, *, seed: int) -> torch.Tensor:
    """(S, R) int64: a*(s, r) in the block of relation r (uniform, or structured)."""
    D = task.answers_per_relation
    base = torch.arange(task.n_relations)[None, :] * D  # (1, R)
    if task.structured:
        within = (torch.arange(task.n_subjects) * D // task.n_subjects)[:, None].expand(-1, task.n_relations)
    else:
        within = torch.randint(0, D, (task.n_subjects, task.n_relations), generator=_generator(seed))
    return base + within  # (S, R)


def _fill(task: FactTask, subjects: torch.Tensor, relations: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Sequences (B, T) holding the given subject and relation at random distinct positions."""
    B, T = subjects.shape[0], task.length
    first = task.n_subjects + task.n_relations
    tokens = first + torch.randint(0, task.noise_tokens, (B, T), generator=g) if task.noise_tokens else \
        torch.zeros(B, T, dtype=torch.int64)
    ps = torch.randint(0, T - 1, (B,), generator=g)  # subject position in [0, T-2]
    q = torch.randint(0, T - 2, (B,), generator=g)  # relation position in [0, T-2] minus ps
    pr = q + (q >= ps).long()
    rows = torch.arange(B)
    tokens[rows, ps] = subjects
    tokens[rows, pr] = task.n_subjects + relations
    tokens[:, -1] = task.eos
    return tokens


def sample_sequences(task: FactTask, table: torch.Tensor, batch: int, *, generator: torch.Generator):
    """A fresh batch: tokens (B, T), targets (B,), subjects (B,), relations (B,) (uniform s and r)."""
    s = torch.randint(0, task.n_subjects, (batch,), generator=generator)
    r = torch.randint(0, task.n_relations, (batch,), generator=generator)
    return _fill(task, s, r, generator), table[s, r], s, r


def every_fact_sequences(task: FactTask, table: torch.Tensor, *, repeats: int, seed: int):
    """Every (s, r) pair ``repeats`` times in fresh noise contexts: tokens, targets, subjects, relations."""
    s = torch.arange(task.n_subjects).repeat_interleave(task.n_relations).repeat(repeats)
    r = torch.arange(task.n_relations).repeat(task.n_subjects).repeat(repeats)
    return _fill(task, s, r, _generator(seed)), table[s, r], s, r


@dataclass(frozen=True)
class RecallModelSpec:
    d: int
    heads: int
    head_dim: int
    mlp_width: int

    def __post_init__(self) -> None:
        if min(self.d, self.heads, self.head_dim) < 1 or self.mlp_width < 0:
            raise ValueError(f"need d, heads, head_dim >= 1 and mlp_width >= 0, got {self}")

    @property
    def attention_params(self) -> int:
        return 4 * self.heads * self.head_dim * self.d

    @property
    def mlp_params(self) -> int:
        return 2 * self.mlp_width * self.d

    @property
    def param_count(self) -> int:
        """The paper's count: 4 H d_h d + 2 m d (no biases, no frozen embeddings)."""
        return self.attention_params + self.mlp_params


class RecallTransformer(nn.Module):
    """One attention layer (EOS query only, no residual) and a residual ReLU MLP; module docstring."""

    def __init__(self, task: FactTask, spec: RecallModelSpec, *, seed: int) -> None:
        super().__init__()
        d, H, dh, m = spec.d, spec.heads, spec.head_dim, spec.mlp_width
        g = _generator(seed)

        def normal(*shape, var):
            return torch.randn(*shape, generator=g) * math.sqrt(var)

        self.spec = spec
        self.register_buffer("embed", normal(task.vocab_size, d, var=1 / d))  # frozen (vocab, d)
        self.register_buffer("unembed", normal(task.n_answers, d, var=1 / d))  # frozen (DR, d)
        self.q = nn.Parameter(normal(H, d, dh, var=1 / dh))
        self.k = nn.Parameter(normal(H, d, dh, var=1 / dh))
        self.v = nn.Parameter(normal(H, d, dh, var=1 / dh))
        self.o = nn.Parameter(normal(H * dh, d, var=1 / d))
        if m:
            self.w1 = nn.Parameter(normal(d, m, var=1 / d))
            self.b1 = nn.Parameter(torch.zeros(m))
            self.w2 = nn.Parameter(normal(m, d, var=1 / m))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:  # (B, T) -> logits (B, DR)
        x = self.embed[tokens]  # (B, T, d)
        q = torch.einsum("bd,hde->bhe", x[:, -1], self.q)  # (B, H, dh), EOS queries only
        k = torch.einsum("btd,hde->bhte", x, self.k)  # (B, H, T, dh)
        v = torch.einsum("btd,hde->bhte", x, self.v)  # (B, H, T, dh)
        att = torch.softmax(torch.einsum("bhe,bhte->bht", q, k) / math.sqrt(self.spec.head_dim), dim=-1)
        heads = torch.einsum("bht,bhte->bhe", att, v).flatten(1)  # (B, H dh)
        h = heads @ self.o  # (B, d); no residual around attention
        if self.spec.mlp_width:
            h = h + torch.relu(h @ self.w1 + self.b1) @ self.w2
        return h @ self.unembed.T


@dataclass(frozen=True)
class RecallTrainSettings:
    steps: int = 16384  # cap on AdamW steps (2^14 in the paper)
    batch_size: int = 1024
    lrs: tuple[float, ...] = (1e-3, 3e-3, 1e-2)  # tried in order until one run stores the task
    eval_every: int = 128
    eval_repeats: int = 1  # test set: every fact this many times
    stored_at: float = 0.99  # accuracy that counts as stored
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not self.lrs or min(self.lrs) <= 0:
            raise ValueError(f"lrs must be a non-empty list of positive rates, got {self.lrs}")
        if not 0 < self.stored_at <= 1:
            raise ValueError(f"stored_at must lie in (0, 1], got {self.stored_at}")


@torch.no_grad()
def _accuracy(model: nn.Module, tokens: torch.Tensor, targets: torch.Tensor, chunk: int = 8192) -> float:
    hits = sum(int((model(tokens[i:i + chunk]).argmax(-1) == targets[i:i + chunk]).sum())
               for i in range(0, len(tokens), chunk))
    return hits / len(tokens)


def train_recall(task: FactTask, spec: RecallModelSpec, *, settings: RecallTrainSettings, seed: int,
                 lr: float | None = None) -> dict:
    """Train one model on one fact table (online batches; AdamW, wd 0) at one learning rate
    (``lr`` or the first of ``settings.lrs``). Stops when the all-facts accuracy reaches
    ``stored_at``. Returns best and final accuracy, steps, seconds."""
    device = resolve_device(settings.device)
    lr = settings.lrs[0] if lr is None else lr
    table = answer_table(task, seed=derive_seed(seed, "table"))
    model = RecallTransformer(task, spec, seed=derive_seed(seed, "init")).to(device)
    test_x, test_y, _, _ = every_fact_sequences(task, table, repeats=settings.eval_repeats,
                                                seed=derive_seed(seed, "test"))
    test_x, test_y = test_x.to(device), test_y.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0, fused=True)
    g = _generator(derive_seed(seed, "batches"))
    t0, best, acc, step, loss = time.perf_counter(), 0.0, 0.0, 0, float("nan")
    for step in range(1, settings.steps + 1):
        x, y, _, _ = sample_sequences(task, table, settings.batch_size, generator=g)
        out = nn.functional.cross_entropy(model(x.to(device)), y.to(device))
        opt.zero_grad(set_to_none=True)
        out.backward()
        opt.step()
        if step % settings.eval_every == 0 or step == settings.steps:
            loss = float(out.detach())
            if not math.isfinite(loss):
                break
            acc = _accuracy(model, test_x, test_y)
            best = max(best, acc)
            if best >= settings.stored_at:
                break
    return {"accuracy": acc, "best_accuracy": best, "stored": best >= settings.stored_at, "steps": step, "lr": lr,
            "final_loss": loss, "seconds": time.perf_counter() - t0}


def _train_any_lr(task: FactTask, spec: RecallModelSpec, settings: RecallTrainSettings, seed: int) -> dict:
    """Try each learning rate in order; the first run that stores the task, else the best run."""
    runs = []
    for lr in settings.lrs:
        runs.append(train_recall(task, spec, settings=settings, seed=seed, lr=lr))
        if runs[-1]["stored"]:
            break
    best = max(runs, key=lambda r: (r["stored"], r["best_accuracy"]))
    return {**best, "lrs_tried": len(runs), "seconds": sum(r["seconds"] for r in runs)}


def recall_capacity(spec: RecallModelSpec, *, answers_per_relation: int, length: int, n_noise: int = 0,
                    size_min: int, size_max: int, settings: RecallTrainSettings, seed: int,
                    rel_tol: float = 0.0) -> tuple[dict, list[dict]]:
    """Largest |S| = |R| = size whose size^2 facts the model stores (Fig. 4 left). Returns the
    summary row and one row per probed size."""
    t0 = time.perf_counter()

    def probe(size: int) -> dict:
        task = FactTask(size, size, answers_per_relation, length, n_noise)
        run = _train_any_lr(task, spec, settings, derive_seed(seed, "size", size))
        log.info("d=%d H=%d dh=%d m=%d size=%d facts=%d: best acc %.4f stored=%s (lr %g, %d steps, %.1fs)",
                 spec.d, spec.heads, spec.head_dim, spec.mlp_width, size, task.n_facts, run["best_accuracy"],
                 run["stored"], run["lr"], run["steps"], run["seconds"])
        return {"n_facts": task.n_facts, "success": run["stored"], **run}

    size, probes = largest_stored(probe, n_min=size_min, n_max=size_max, rel_tol=rel_tol)
    fails = [p["n"] for p in probes if not p["success"] and (size is None or p["n"] > size)]
    row = {**asdict(spec), "attention_params": spec.attention_params, "mlp_params": spec.mlp_params,
           "param_count": spec.param_count, "seed": seed, "found": size is not None, "size": size,
           "n_facts": size * size if size else None, "size_failed": min(fails) if fails else None,
           "at_size_max": size == size_max, "n_probes": len(probes), "seconds": time.perf_counter() - t0}
    return row, [{"size": p.pop("n"), **p} for p in probes]


def tradeoff_cell(task: FactTask, spec: RecallModelSpec, *, settings: RecallTrainSettings, seed: int) -> dict:
    """Accuracy of one (heads, MLP width) model on a fixed task (one cell of Fig. 4 right)."""
    run = _train_any_lr(task, spec, settings, seed)
    log.info("H=%d m=%d (attention %d, MLP %d params): best acc %.4f (%d steps, %.1fs)", spec.heads,
             spec.mlp_width, spec.attention_params, spec.mlp_params, run["best_accuracy"], run["steps"],
             run["seconds"])
    return {**asdict(spec), "attention_params": spec.attention_params, "mlp_params": spec.mlp_params,
            "param_count": spec.param_count, "n_facts": task.n_facts, "seed": seed, **run}
