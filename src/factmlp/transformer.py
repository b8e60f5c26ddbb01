r"""A 1-layer, 1-head Transformer with a frozen fact MLP in its MLP slot, and the synthetic recall task.

Dugan et al. (2025, Sec. 5) ask whether a fact-storing MLP is *usable*: can attention, trained
with one MLP inserted, read facts out of another MLP built the same way for a new map? The
model follows the constraints of the paper (and the defaults of the hebbian-mlps code):

    x_t   = E[token_t]                                 tied, frozen embeddings (fact table + junk + Q)
    h_t   = RMSNorm(x_t) * w_1                         pre-attention norm
    a     = sum_t softmax_t(<R_T W_Q h_T, R_t W_K h_t> / sqrt(d)) h_t
                                                       one head, RoPE R_t, value/output = identity
    z     = RMSNorm(a) * s                             frozen scalar s = mean RMS of the key rows
    y     = MLP(z)                                     the fact MLP, frozen, no residual
    logit = (RMSNorm(y) * w_f) E^T                     pre-head norm, tied output embeddings

Only W_Q and W_K train (and w_1, w_f when ``train_norms``). The loss is the cross-entropy at the
query position only, so the model evaluates attention and the MLP at that position alone (the
other positions never reach the loss, and there is no residual stream).

Task (:class:`RecallTask`): ``<junk x a> K <junk x b> Q`` with the target f(K) at Q; a, b uniform in
[gap_min, gap_max] (drawn once per batch so a batch is one tensor), junk tokens uniform over J
junk embeddings; fresh random batches every step. Prediction = argmax over the whole vocabulary.

Choices the papers leave open (all are settings):

- ``train_norms=False``: the norm weights stay 1. Trained elementwise norm weights co-adapt with
  MLP_1 and then distort the input of MLP_2, which would confound attention usability with norm
  drift; the paper's "only Q/K (and trainable norms)" allows either.
- ``rope_base=10000`` (standard RoPE). The hebbian-mlps default 10000 ** (d / 1024) (``None``)
  rotates every pair by ~1 rad per position at small d, leaving no slow pair for content-based
  attention: measured at d=32, |K|=128 with an identity MLP, recall 0.50 after 1500 steps
  against 0.93 with base 10000.
- ``n_junk``: attention must score the key above every junk token with one linear form in the
  token embedding (q is fixed), i.e. separate J random junk rows from |K| fact rows by a
  hyperplane, which fails when |K| + J is well above 2d (Cover). Measured at d=32, |K|=128
  (identity MLP, 3000 steps): recall 0.95 with J=16, 1.00 with J=4 (and 0.98 at d=64,
  |K|=512, J=16). The smoke config uses J=4 so that recall measures the MLP, not attention.
- Junk and query embeddings are random spherical directions scaled to the mean key norm
  (:func:`build_vocab`), from their own seed: they must look like tokens, not like facts, whatever
  the fact family.
- W_Q, W_K start at N(0, 1/d) entries from the run's seed; AdamW with weight decay on both.
- The attention runs in float32 (``dtype``); the MLP keeps its own dtype (float64 for the
  constructions) and its input and output are cast.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import torch
from torch import nn

from .facts import FactSet

__all__ = ["RecallTask", "AttentionSettings", "RecallTransformer", "rms_norm", "train_attention", "recall_accuracy",
           "identity_fact_set", "build_vocab", "mlp_input_scale", "rope"]

log = logging.getLogger("factmlp.transformer")


def rms_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """x / RMS(x) along the last dimension."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


def rope(x: torch.Tensor, pos: torch.Tensor, base: float) -> torch.Tensor:
    """Rotary position embedding of ``x`` (..., T, d) at positions ``pos`` (T,), pairs (2i, 2i+1)."""
    d = x.shape[-1]
    half = d // 2
    freqs = base ** (-torch.arange(half, dtype=x.dtype, device=x.device) * 2 / d)  # (half,)
    ang = pos.to(x.dtype)[:, None] * freqs[None, :]  # (T, half)
    cos, sin = ang.cos(), ang.sin()
    x1, x2 = x[..., 0 : 2 * half : 2], x[..., 1 : 2 * half : 2]
    out = x.clone()
    out[..., 0 : 2 * half : 2] = x1 * cos - x2 * sin
    out[..., 1 : 2 * half : 2] = x1 * sin + x2 * cos
    return out


@dataclass(frozen=True)
class RecallTask:
    """Sequences ``<junk x a> K <junk x b> Q`` -> f(K); see the module docstring."""

    n_junk: int = 16
    gap_min: int = 8
    gap_max: int = 16

    def __post_init__(self) -> None:
        if self.n_junk < 1:
            raise ValueError(f"n_junk must be >= 1, got {self.n_junk}")
        if not 0 <= self.gap_min <= self.gap_max:
            raise ValueError(f"need 0 <= gap_min <= gap_max, got {self.gap_min}, {self.gap_max}")

    def batch(self, key_ids: torch.Tensor, n_keys_vocab: int, g: torch.Generator) -> torch.Tensor:
        """Token ids (B, a + b + 2) for the given key token ids; junk ids follow the key/value table."""
        a = int(torch.randint(self.gap_min, self.gap_max + 1, (1,), generator=g))
        b = int(torch.randint(self.gap_min, self.gap_max + 1, (1,), generator=g))
        bsz = key_ids.shape[0]
        junk = n_keys_vocab + torch.randint(0, self.n_junk, (bsz, a + b), generator=g)
        q = torch.full((bsz, 1), n_keys_vocab + self.n_junk, dtype=torch.int64)
        return torch.cat([junk[:, :a], key_ids[:, None], junk[:, a:], q], dim=1)


@dataclass(frozen=True)
class AttentionSettings:
    """Training of W_Q, W_K (AdamW) with the MLP frozen; defaults are a CPU smoke scale."""

    steps: int = 1500  # cap on AdamW steps (paper: up to 16k at batch 1280, lr 2e-4)
    batch_size: int = 256  # fresh random sequences per step
    lr: float = 1e-2
    weight_decay: float = 0.1
    eval_every: int = 100  # steps between recall evaluations (on the fixed evaluation set)
    early_stop: float = 0.99  # stop once recall on the evaluation set reaches this
    eval_repeats: int = 2  # evaluation sequences per fact (each with fresh junk and gaps)
    train_norms: bool = False
    rope_base: float | None = 10000.0  # None: 10000 ** (d / 1024), the hebbian-mlps default
    dtype: str = "float32"
    device: str = "cpu"


class RecallTransformer(nn.Module):
    """See the module docstring. ``vocab`` (n_tokens, d) rows: keys [+ values], junk, query."""

    def __init__(self, vocab: torch.Tensor, mlp: nn.Module, *, mlp_scale: float, seed: int,
                 train_norms: bool = False, rope_base: float | None = None,
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        d = vocab.shape[1]
        self.register_buffer("vocab", vocab.to(dtype))
        g = torch.Generator().manual_seed(seed)
        self.w_q = nn.Parameter(torch.randn(d, d, generator=g, dtype=torch.float64).to(dtype) / math.sqrt(d))
        self.w_k = nn.Parameter(torch.randn(d, d, generator=g, dtype=torch.float64).to(dtype) / math.sqrt(d))
        self.norm1 = nn.Parameter(torch.ones(d, dtype=dtype), requires_grad=train_norms)
        self.norm_f = nn.Parameter(torch.ones(d, dtype=dtype), requires_grad=train_norms)
        self.mlp_scale = float(mlp_scale)
        self.rope_base = float(rope_base) if rope_base is not None else 10000.0 ** (d / 1024)
        self.mlp = mlp
        self.mlp.requires_grad_(False)

    def swap_mlp(self, mlp: nn.Module) -> None:
        """Replace the MLP (frozen); attention is untouched."""
        mlp.requires_grad_(False)
        self.mlp = mlp

    def mlp_input(self, tokens: torch.Tensor) -> torch.Tensor:
        """z at the query (last) position: what the MLP reads, (B, d)."""
        x = self.vocab[tokens]  # (B, T, d)
        h = rms_norm(x) * self.norm1
        pos = torch.arange(tokens.shape[1], device=tokens.device)
        q = rope((h[:, -1:] @ self.w_q.T), pos[-1:], self.rope_base)  # (B, 1, d)
        k = rope(h @ self.w_k.T, pos, self.rope_base)  # (B, T, d)
        att = torch.softmax((k @ q.transpose(1, 2)).squeeze(-1) / math.sqrt(h.shape[-1]), dim=-1)  # (B, T)
        a = torch.einsum("bt,btd->bd", att, h)
        return rms_norm(a) * self.mlp_scale

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits (B, n_tokens) at the query position."""
        z = self.mlp_input(tokens)
        mlp_dtype = next(iter(self.mlp.parameters()), z).dtype
        y = self.mlp(z.to(mlp_dtype)).to(z.dtype)
        return (rms_norm(y) * self.norm_f) @ self.vocab.T


def build_vocab(facts: FactSet, task: RecallTask, *, seed: int) -> tuple[torch.Tensor, int]:
    """(n_tokens, d) token table [keys, values (unless tied), junk, Q], and the token offset of the
    values (0 when keys and values are one table, else n_facts)."""
    tied = facts.keys.shape == facts.values.shape and torch.equal(facts.keys, facts.values)
    g = torch.Generator().manual_seed(seed)
    extra = torch.randn(task.n_junk + 1, facts.d, generator=g, dtype=torch.float64)
    extra = extra / extra.norm(dim=1, keepdim=True) * facts.keys.norm(dim=1).mean()
    tables = [facts.keys] if tied else [facts.keys, facts.values]
    return torch.cat(tables + [extra]), 0 if tied else facts.n_facts


def mlp_input_scale(keys: torch.Tensor, tolerance: float) -> float:
    """Mean RMS of the key rows: the frozen scale of the pre-MLP norm, so z has the keys' size.

    Raises if a key's RMS differs from the mean by more than ``tolerance`` (relative): a single
    scale cannot then give every key its own size (the hebbian-mlps code asserts 20%).
    """
    rms = keys.pow(2).mean(1).sqrt()
    mean = float(rms.mean())
    worst = float((rms / mean - 1).abs().max())
    if worst > tolerance:
        raise ValueError(f"key RMS norms vary by {worst:.1%} around their mean (> norm_tolerance {tolerance:.0%}); "
                         "the frozen pre-MLP norm needs near-equal key norms: use a row-normalised family")
    return mean


def identity_fact_set(facts: FactSet) -> FactSet:
    """The identity map on the keys (each key recalls itself), for attention pre-training."""
    n = facts.n_facts
    return FactSet(facts.keys, facts.keys, torch.arange(n), dict(facts.meta))


def _n_table(model: RecallTransformer, task: RecallTask) -> int:
    """Number of key/value rows of the vocabulary (junk and Q follow them)."""
    return model.vocab.shape[0] - task.n_junk - 1


def recall_accuracy(model: RecallTransformer, facts: FactSet, task: RecallTask, *, target_offset: int, repeats: int,
                    seed: int, batch_size: int = 1024) -> float:
    """Fraction of (fact, sequence) pairs whose argmax at Q is f(K); ``repeats`` sequences per fact.

    Key i is token i; value j is token ``target_offset + j`` (0 when keys and values are one table)."""
    g = torch.Generator().manual_seed(seed)
    n_table = _n_table(model, task)
    targets = facts.mapping + target_offset
    correct = total = 0
    dev = model.vocab.device
    with torch.no_grad():
        for _ in range(repeats):
            for start in range(0, facts.n_facts, batch_size):
                ids = torch.arange(start, min(start + batch_size, facts.n_facts))
                tokens = task.batch(ids, n_table, g).to(dev)
                pred = model(tokens).argmax(-1).cpu()
                correct += int((pred == targets[ids]).sum())
                total += ids.numel()
    return correct / total


def train_attention(model: RecallTransformer, facts: FactSet, task: RecallTask, settings: AttentionSettings, *,
                    target_offset: int, seed: int) -> dict:
    """Train W_Q, W_K (AdamW, CE at Q) on fresh batches until recall >= ``early_stop`` or ``steps``.

    Recall is measured every ``eval_every`` steps on a fixed evaluation set (its own seed).
    Returns ``steps``, ``recall`` (final evaluation), ``seconds``.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": settings.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=settings.lr, fused=True)
    g = torch.Generator().manual_seed(seed)
    n_table = _n_table(model, task)
    targets = facts.mapping + target_offset
    dev = model.vocab.device
    t0 = time.perf_counter()
    recall, step = 0.0, 0
    for step in range(1, settings.steps + 1):
        ids = torch.randint(0, facts.n_facts, (settings.batch_size,), generator=g)
        tokens = task.batch(ids, n_table, g).to(dev)
        loss = nn.functional.cross_entropy(model(tokens), targets[ids].to(dev))
        if not torch.isfinite(loss):
            raise FloatingPointError(f"attention training diverged at step {step} (loss {loss.item()})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % settings.eval_every == 0 or step == settings.steps:
            recall = recall_accuracy(model, facts, task, target_offset=target_offset, repeats=settings.eval_repeats,
                                     seed=seed + 1)
            log.debug("step %d loss %.4f recall %.4f", step, loss.item(), recall)
            if recall >= settings.early_stop:
                break
    return {"steps": step, "recall": recall, "seconds": time.perf_counter() - t0}
